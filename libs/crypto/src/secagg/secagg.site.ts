/**
 * The site side of secure aggregation: one pure function per stage, each taking the previous state
 * and the server's request and returning the next state and the reply. Requests that do not fit
 * (another round, a neighbour that is not one, a bad signature, inconsistent sets) throw
 * {@link SecAggError}; the site then leaves the round (the server treats it as a dropout).
 */
import { createHash } from 'node:crypto';
import nacl from 'tweetnacl';
import { fromBase64, toBase64 } from '../bytes';
import { SecAggError } from '../errors';
import { signDetached, verifyDetached } from '../keys';
import { type RandomBytes, secureRandomBytes } from '../random';
import { split } from '../shamir';
import { SecAggRequest, SecAggStage } from './secagg.constants';
import { applyMask, pairMaskSeed, quantize, selfMaskSeed, vectorToBytes } from './secagg.masking';
import type {
  AdvertiseKeysMessage,
  ConsistencyCheckMessage,
  ConsistencyCheckRequest,
  MaskedInputMessage,
  MaskedInputRequest,
  RevealedShare,
  ShareKeysMessage,
  ShareKeysRequest,
  SiteSecAggState,
  UnmaskMessage,
  UnmaskRequest,
} from './secagg.messages';
import { contextHash, neighbourGraph, validateParams } from './secagg.params';
import {
  advertiseSignedBytes,
  consistencySignedBytes,
  decodeKey,
  decryptShare,
  encryptShare,
  selfMaskCommitment,
} from './secagg.wire';

function expectStage(state: SiteSecAggState, stage: SiteSecAggState['stage'], next: string): void {
  if (state.stage !== stage) throw new SecAggError(`Cannot run ${next} after ${state.stage}; expected ${stage}`, 'wrong_stage');
}

function expectTag(state: SiteSecAggState, message: { experiment: string; round: number; stage: string }, stage: string): void {
  if (message.stage !== stage || message.experiment !== state.params.experiment || message.round !== state.params.round) {
    throw new SecAggError(`Expected ${stage} for ${state.params.experiment} round ${state.params.round}`, 'wrong_round');
  }
}

/**
 * Stage 0: makes fresh X25519 key pairs for this round and signs their public halves with the site's
 * enrolled Ed25519 key. `site` must be one of `params.sites` and its key must match `signingSecretKey`.
 */
export function advertiseKeys(
  params: SiteSecAggState['params'],
  site: string,
  signingSecretKey: Uint8Array,
  rng: RandomBytes = secureRandomBytes,
): { state: SiteSecAggState; message: AdvertiseKeysMessage } {
  validateParams(params);
  const enrolled = params.sites[site];
  if (enrolled === undefined) throw new SecAggError(`Site ${site} is not part of this round`, 'not_invited');
  if (signingSecretKey.length !== 64 || toBase64(signingSecretKey.subarray(32)) !== enrolled) {
    throw new SecAggError(`The signing key does not match site ${site}'s enrolled key`, 'bad_key');
  }
  const encryption = nacl.box.keyPair.fromSecretKey(rng(32));
  const masking = nacl.box.keyPair.fromSecretKey(rng(32));
  const context = contextHash(params);
  const encryptionPublicKey = toBase64(encryption.publicKey);
  const maskingPublicKey = toBase64(masking.publicKey);
  const message: AdvertiseKeysMessage = {
    stage: SecAggStage.AdvertiseKeys,
    experiment: params.experiment,
    round: params.round,
    site,
    encryptionPublicKey,
    maskingPublicKey,
    signature: toBase64(signDetached(advertiseSignedBytes(context, site, encryptionPublicKey, maskingPublicKey), signingSecretKey)),
  };
  const state: SiteSecAggState = {
    stage: SecAggStage.AdvertiseKeys,
    params,
    site,
    encryptionSecretKey: toBase64(encryption.secretKey),
    maskingSecretKey: toBase64(masking.secretKey),
    advertisement: message,
  };
  return { state, message };
}

/** Checks an advertisement's round, signature (by the enrolled key) and key lengths; returns why not, or null. */
export function checkAdvertisement(params: SiteSecAggState['params'], context: Uint8Array, ad: AdvertiseKeysMessage): string | null {
  if (ad.stage !== SecAggStage.AdvertiseKeys || ad.experiment !== params.experiment || ad.round !== params.round) return 'wrong round';
  const enrolled = params.sites[ad.site];
  if (enrolled === undefined) return 'not invited';
  try {
    decodeKey(ad.encryptionPublicKey, 32, 'encryptionPublicKey');
    decodeKey(ad.maskingPublicKey, 32, 'maskingPublicKey');
    const signature = fromBase64(ad.signature);
    const ok = verifyDetached(advertiseSignedBytes(context, ad.site, ad.encryptionPublicKey, ad.maskingPublicKey), signature, fromBase64(enrolled));
    return ok ? null : 'bad signature';
  } catch {
    return 'malformed keys';
  }
}

/**
 * Stage 1: checks the neighbours' advertisements (each a real neighbour, signed by its enrolled key,
 * all keys distinct, at least t of them), then Shamir-shares this site's masking secret key and a
 * fresh self-mask secret among them (threshold t) and encrypts each neighbour's shares to it.
 */
export function shareKeys(state: SiteSecAggState, request: ShareKeysRequest, rng: RandomBytes = secureRandomBytes): { state: SiteSecAggState; message: ShareKeysMessage } {
  expectStage(state, SecAggStage.AdvertiseKeys, 'share-keys');
  expectTag(state, request, SecAggRequest.ShareKeys);
  const { params, site } = state;
  const context = contextHash(params);
  const neighbours = new Set(neighbourGraph(params).get(site) ?? []);
  const peers: NonNullable<SiteSecAggState['peers']> = {};
  const seenKeys = new Set([state.advertisement.encryptionPublicKey, state.advertisement.maskingPublicKey]);
  for (const ad of request.advertisements) {
    if (!neighbours.has(ad.site)) throw new SecAggError(`${ad.site} is not a neighbour of ${site}`, 'not_neighbour');
    if (peers[ad.site]) throw new SecAggError(`Two advertisements from ${ad.site}`, 'duplicate');
    const problem = checkAdvertisement(params, context, ad);
    if (problem) throw new SecAggError(`The advertisement of ${ad.site} was refused: ${problem}`, 'bad_signature');
    for (const key of [ad.encryptionPublicKey, ad.maskingPublicKey]) {
      if (seenKeys.has(key)) throw new SecAggError(`A public key of ${ad.site} repeats another key`, 'duplicate_key');
      seenKeys.add(key);
    }
    peers[ad.site] = { encryptionPublicKey: ad.encryptionPublicKey, maskingPublicKey: ad.maskingPublicKey };
  }
  const peerIds = Object.keys(peers).sort();
  if (peerIds.length < params.threshold) {
    throw new SecAggError(`Only ${peerIds.length} neighbours advertised keys; ${params.threshold} are needed`, 'too_few_neighbours');
  }
  const selfSecret = rng(32);
  const maskingSecret = fromBase64(state.maskingSecretKey);
  const encryptionSecret = fromBase64(state.encryptionSecretKey);
  const maskKeyShares = split(maskingSecret, peerIds.length, params.threshold, rng);
  const selfMaskShares = split(selfSecret, peerIds.length, params.threshold, rng);
  const shares = peerIds.map((to, i) => {
    const keyShare = maskKeyShares[i];
    const selfShare = selfMaskShares[i];
    const peer = peers[to];
    if (!keyShare || !selfShare || !peer) throw new SecAggError('internal: share count mismatch');
    const ciphertext = encryptShare(
      { from: site, to, index: keyShare.index, maskKeyShare: toBase64(keyShare.value), selfMaskShare: toBase64(selfShare.value) },
      encryptionSecret,
      fromBase64(peer.encryptionPublicKey),
      context,
    );
    return { to, ciphertext };
  });
  const message: ShareKeysMessage = {
    stage: SecAggStage.ShareKeys,
    experiment: params.experiment,
    round: params.round,
    site,
    shares,
    selfMaskCommitment: selfMaskCommitment(context, site, selfSecret),
  };
  return { state: { ...state, stage: SecAggStage.ShareKeys, selfMaskSecret: toBase64(selfSecret), peers }, message };
}

/**
 * Stage 2: keeps the share bundles of neighbours that shared (checking each decrypts), and masks the
 * quantised update (see `quantize`) with the self mask and one pair mask per such neighbour: added
 * for neighbours whose id sorts after this site's, subtracted for those before.
 * Returns the reply and the masked vector's bytes (little-endian uint32, d + 1 of them).
 */
export function maskedInput(
  state: SiteSecAggState,
  request: MaskedInputRequest,
  update: Float32Array,
  sampleCount: number,
): { state: SiteSecAggState; message: MaskedInputMessage; maskedVector: Uint8Array } {
  expectStage(state, SecAggStage.ShareKeys, 'masked-input');
  expectTag(state, request, SecAggRequest.MaskedInput);
  const { params, site } = state;
  const peers = state.peers ?? {};
  const context = contextHash(params);
  const encryptionSecret = fromBase64(state.encryptionSecretKey);
  const received: Record<string, string> = {};
  for (const { from, ciphertext } of request.shares) {
    const peer = peers[from];
    if (!peer) throw new SecAggError(`A share bundle from ${from}, which did not advertise as a neighbour`, 'not_neighbour');
    if (received[from] !== undefined) throw new SecAggError(`Two share bundles from ${from}`, 'duplicate');
    if (!decryptShare(ciphertext, from, site, encryptionSecret, fromBase64(peer.encryptionPublicKey), context)) {
      throw new SecAggError(`The share bundle from ${from} does not decrypt`, 'bad_share');
    }
    received[from] = ciphertext;
  }
  const senders = Object.keys(received).sort();
  if (senders.length < params.threshold) {
    throw new SecAggError(`Only ${senders.length} neighbours shared keys; ${params.threshold} are needed`, 'too_few_neighbours');
  }
  const vector = quantize(update, sampleCount, params);
  applyMask(vector, selfMaskSeed(fromBase64(state.selfMaskSecret ?? ''), context), 1);
  const maskingSecret = fromBase64(state.maskingSecretKey);
  for (const v of senders) {
    const peer = peers[v];
    if (!peer) continue;
    applyMask(vector, pairMaskSeed(maskingSecret, fromBase64(peer.maskingPublicKey), site, v, context), site < v ? 1 : -1);
  }
  const maskedVector = vectorToBytes(vector);
  const message: MaskedInputMessage = {
    stage: SecAggStage.MaskedInput,
    experiment: params.experiment,
    round: params.round,
    site,
    vectorLength: vector.length,
    vectorSha256: createHash('sha256').update(maskedVector).digest('hex'),
  };
  return { state: { ...state, stage: SecAggStage.MaskedInput, received }, message, maskedVector };
}

/** Stage 3: signs the server's survivor list (which must hold this site and at least t sites). */
export function consistencyCheck(
  state: SiteSecAggState,
  request: ConsistencyCheckRequest,
  signingSecretKey: Uint8Array,
): { state: SiteSecAggState; message: ConsistencyCheckMessage } {
  expectStage(state, SecAggStage.MaskedInput, 'consistency-check');
  expectTag(state, request, SecAggRequest.ConsistencyCheck);
  const { params, site } = state;
  const survivors = [...new Set(request.survivors)].sort();
  if (survivors.length !== request.survivors.length) throw new SecAggError('The survivor list repeats a site', 'inconsistent_sets');
  if (!survivors.includes(site)) throw new SecAggError(`${site} is missing from the survivor list`, 'inconsistent_sets');
  if (survivors.some((s) => params.sites[s] === undefined)) throw new SecAggError('The survivor list names a site not in the round', 'inconsistent_sets');
  if (survivors.length < params.threshold) throw new SecAggError(`Only ${survivors.length} survivors; ${params.threshold} are needed`, 'too_few_survivors');
  const signature = toBase64(signDetached(consistencySignedBytes(contextHash(params), survivors), signingSecretKey));
  return {
    state: { ...state, stage: SecAggStage.ConsistencyCheck, survivors },
    message: { stage: SecAggStage.ConsistencyCheck, experiment: params.experiment, round: params.round, site, signature },
  };
}

/**
 * Stage 4: checks that the survivor list is the one this site signed, carries at least t valid
 * signatures by survivors over that same list, and sorts every neighbour that shared into exactly one
 * of survivors/dropped; then reveals, per such neighbour, the self-mask share if it survived or the
 * masking-key share if it dropped, never both. Answers once per round.
 */
export function unmask(state: SiteSecAggState, request: UnmaskRequest): { state: SiteSecAggState; message: UnmaskMessage } {
  expectStage(state, SecAggStage.ConsistencyCheck, 'unmask');
  expectTag(state, request, SecAggRequest.Unmask);
  const { params, site } = state;
  const context = contextHash(params);
  const survivors = [...request.survivors].sort();
  if (JSON.stringify(survivors) !== JSON.stringify(state.survivors)) {
    throw new SecAggError('The survivor list differs from the one this site signed', 'inconsistent_sets');
  }
  const survivorSet = new Set(survivors);
  const dropped = new Set(request.dropped);
  if (request.dropped.some((d) => survivorSet.has(d))) throw new SecAggError('A site is both a survivor and a dropout', 'inconsistent_sets');
  const signed = consistencySignedBytes(context, survivors);
  const signers = new Set<string>();
  for (const { site: signer, signature } of request.signatures) {
    const key = params.sites[signer];
    if (!survivorSet.has(signer) || key === undefined || signers.has(signer)) {
      throw new SecAggError(`A consistency signature from ${signer}, who is not a distinct survivor`, 'bad_signature');
    }
    let ok = false;
    try {
      ok = verifyDetached(signed, fromBase64(signature), fromBase64(key));
    } catch {
      ok = false;
    }
    if (!ok) throw new SecAggError(`The consistency signature of ${signer} is invalid`, 'bad_signature');
    signers.add(signer);
  }
  if (signers.size < params.threshold) throw new SecAggError(`Only ${signers.size} consistency signatures; ${params.threshold} are needed`, 'too_few_survivors');

  const encryptionSecret = fromBase64(state.encryptionSecretKey);
  const selfMaskShares: RevealedShare[] = [];
  const maskKeyShares: RevealedShare[] = [];
  for (const [owner, ciphertext] of Object.entries(state.received ?? {})) {
    const peer = state.peers?.[owner];
    const plain = peer ? decryptShare(ciphertext, owner, site, encryptionSecret, fromBase64(peer.encryptionPublicKey), context) : null;
    if (!plain) throw new SecAggError(`The share bundle from ${owner} does not decrypt`, 'bad_share');
    if (survivorSet.has(owner)) selfMaskShares.push({ owner, index: plain.index, share: plain.selfMaskShare });
    else if (dropped.has(owner)) maskKeyShares.push({ owner, index: plain.index, share: plain.maskKeyShare });
    else throw new SecAggError(`Neighbour ${owner} is neither a survivor nor a dropout`, 'inconsistent_sets');
  }
  return {
    state: { ...state, stage: SecAggStage.Unmask },
    message: { stage: SecAggStage.Unmask, experiment: params.experiment, round: params.round, site, selfMaskShares, maskKeyShares },
  };
}
