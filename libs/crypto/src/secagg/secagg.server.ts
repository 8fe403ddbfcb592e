/**
 * The server side of secure aggregation: pure functions that route each stage's messages to the
 * sites that need them and, at the end, remove the masks from the running sum. The server never sees
 * an individual update: only masked vectors (uniformly random on their own) and the final sum.
 */
import { createHash } from 'node:crypto';
import nacl from 'tweetnacl';
import { fromBase64, toBase64 } from '../bytes';
import { SecAggError } from '../errors';
import { verifyDetached } from '../keys';
import { type Share, combine } from '../shamir';
import { SecAggRequest, SecAggStage } from './secagg.constants';
import { applyMask, pairMaskSeed, selfMaskSeed } from './secagg.masking';
import type {
  AdvertiseKeysMessage,
  ConsistencyCheckMessage,
  ConsistencyCheckRequest,
  MaskedInputMessage,
  MaskedInputRequest,
  ShareKeysMessage,
  ShareKeysRequest,
  UnmaskMessage,
  UnmaskRequest,
} from './secagg.messages';
import { type SecAggParams, contextHash, neighbourGraph, validateParams } from './secagg.params';
import { checkAdvertisement } from './secagg.site';
import { consistencySignedBytes, decodeKey, selfMaskCommitment } from './secagg.wire';

/** Most t-subsets of shares tried per secret before giving up on wrong shares. */
const MAX_SUBSETS = 2000;

/** The k-subsets of {0..n-1} in lexicographic order. */
function* subsets(n: number, k: number): Generator<number[]> {
  const idx = Array.from({ length: k }, (_, i) => i);
  while (true) {
    yield [...idx];
    let i = k - 1;
    while (i >= 0 && idx[i] === n - k + i) i--;
    if (i < 0) return;
    idx[i] = (idx[i] as number) + 1;
    for (let j = i + 1; j < k; j++) idx[j] = (idx[j - 1] as number) + 1;
  }
}

/** A message the server set aside, and why. */
export interface Rejection {
  site: string;
  reason: string;
}

function tagOk(params: SecAggParams, m: { stage: string; experiment: string; round: number }, stage: string): boolean {
  return m.stage === stage && m.experiment === params.experiment && m.round === params.round;
}

/**
 * After stage 0: keeps valid, signed advertisements (U1), drops sites left with fewer than t
 * neighbours in U1 (repeatedly, as dropping one can starve another), and returns each remaining
 * site's {@link ShareKeysRequest}.
 */
export function routeAdvertisements(
  params: SecAggParams,
  advertisements: readonly AdvertiseKeysMessage[],
): { accepted: AdvertiseKeysMessage[]; requests: Record<string, ShareKeysRequest>; rejected: Rejection[] } {
  validateParams(params);
  const context = contextHash(params);
  const rejected: Rejection[] = [];
  const bySite = new Map<string, AdvertiseKeysMessage>();
  for (const ad of advertisements) {
    const problem = bySite.has(ad.site) ? 'duplicate advertisement' : checkAdvertisement(params, context, ad);
    if (problem) rejected.push({ site: ad.site, reason: problem });
    else bySite.set(ad.site, ad);
  }
  const graph = neighbourGraph(params);
  let changed = true;
  while (changed) {
    changed = false;
    for (const site of [...bySite.keys()]) {
      const live = (graph.get(site) ?? []).filter((v) => bySite.has(v)).length;
      if (live < params.threshold) {
        bySite.delete(site);
        rejected.push({ site, reason: `only ${live} neighbours advertised; ${params.threshold} are needed` });
        changed = true;
      }
    }
  }
  const requests: Record<string, ShareKeysRequest> = {};
  for (const site of bySite.keys()) {
    requests[site] = {
      stage: SecAggRequest.ShareKeys,
      experiment: params.experiment,
      round: params.round,
      advertisements: (graph.get(site) ?? []).flatMap((v) => {
        const ad = bySite.get(v);
        return ad ? [ad] : [];
      }),
    };
  }
  return { accepted: [...bySite.values()], requests, rejected };
}

/**
 * After stage 1: keeps share messages from sites in U1 that address exactly their advertised
 * neighbours (U2), and returns each such site's {@link MaskedInputRequest} with the bundles sent to it.
 */
export function routeShares(
  params: SecAggParams,
  advertised: readonly string[],
  messages: readonly ShareKeysMessage[],
): { accepted: ShareKeysMessage[]; requests: Record<string, MaskedInputRequest>; rejected: Rejection[] } {
  const graph = neighbourGraph(params);
  const u1 = new Set(advertised);
  const rejected: Rejection[] = [];
  const accepted = new Map<string, ShareKeysMessage>();
  for (const m of messages) {
    const expected = (graph.get(m.site) ?? []).filter((v) => u1.has(v)).sort();
    const targets = m.shares.map((s) => s.to).sort();
    let reason: string | null = null;
    if (!tagOk(params, m, SecAggStage.ShareKeys)) reason = 'wrong round';
    else if (!u1.has(m.site)) reason = 'did not advertise keys';
    else if (accepted.has(m.site)) reason = 'duplicate share message';
    else if (JSON.stringify(targets) !== JSON.stringify(expected)) reason = 'shares do not address exactly the advertised neighbours';
    else if (!/^[0-9a-f]{64}$/.test(m.selfMaskCommitment)) reason = 'malformed commitment';
    if (reason) rejected.push({ site: m.site, reason });
    else accepted.set(m.site, m);
  }
  const requests: Record<string, MaskedInputRequest> = {};
  for (const site of accepted.keys()) {
    requests[site] = { stage: SecAggRequest.MaskedInput, experiment: params.experiment, round: params.round, shares: [] };
  }
  for (const m of accepted.values()) {
    for (const { to, ciphertext } of m.shares) requests[to]?.shares.push({ from: m.site, ciphertext });
  }
  return { accepted: [...accepted.values()], requests, rejected };
}

/** A zeroed running sum for the masked vectors (d + 1 elements mod 2^32). */
export function createAggregate(params: SecAggParams): Uint32Array {
  return new Uint32Array(params.vectorLength + 1);
}

/**
 * Stage 2, streaming: adds one site's masked vector (little-endian bytes) into `aggregate` in place,
 * after checking its round, length and hash. Throws {@link SecAggError} if they do not match.
 */
export function addMaskedInput(params: SecAggParams, aggregate: Uint32Array, message: MaskedInputMessage, maskedVector: Uint8Array): void {
  if (!tagOk(params, message, SecAggStage.MaskedInput)) throw new SecAggError(`Masked input from ${message.site} is for another round`, 'wrong_round');
  if (message.vectorLength !== aggregate.length || maskedVector.length !== aggregate.length * 4) {
    throw new SecAggError(`Masked input from ${message.site} has the wrong length`, 'bad_input');
  }
  if (createHash('sha256').update(maskedVector).digest('hex') !== message.vectorSha256) {
    throw new SecAggError(`Masked input from ${message.site} does not match its hash`, 'bad_input');
  }
  const aligned = maskedVector.byteOffset % 4 === 0 ? maskedVector : new Uint8Array(maskedVector);
  const words = new Uint32Array(aligned.buffer, aligned.byteOffset, aggregate.length);
  for (let i = 0; i < aggregate.length; i++) aggregate[i] = (aggregate[i] as number) + (words[i] as number);
}

/** Before stage 3: the survivor list (U3: sites whose masked input was added) for every survivor. */
export function consistencyRequest(params: SecAggParams, survivors: readonly string[]): ConsistencyCheckRequest {
  return { stage: SecAggRequest.ConsistencyCheck, experiment: params.experiment, round: params.round, survivors: [...survivors].sort() };
}

/**
 * After stage 3: keeps valid consistency signatures by survivors and returns the unmask request
 * (survivors, dropouts = U2 \ U3, signatures). Throws {@link SecAggError} if fewer than t signed.
 */
export function unmaskRequest(
  params: SecAggParams,
  shared: readonly string[],
  survivors: readonly string[],
  messages: readonly ConsistencyCheckMessage[],
): { request: UnmaskRequest; signers: string[]; rejected: Rejection[] } {
  const context = contextHash(params);
  const sorted = [...survivors].sort();
  const survivorSet = new Set(sorted);
  const signed = consistencySignedBytes(context, sorted);
  const rejected: Rejection[] = [];
  const signatures: { site: string; signature: string }[] = [];
  for (const m of messages) {
    const key = params.sites[m.site];
    let ok = tagOk(params, m, SecAggStage.ConsistencyCheck) && survivorSet.has(m.site) && key !== undefined && !signatures.some((s) => s.site === m.site);
    if (ok && key !== undefined) {
      try {
        ok = verifyDetached(signed, fromBase64(m.signature), fromBase64(key));
      } catch {
        ok = false;
      }
    }
    if (ok) signatures.push({ site: m.site, signature: m.signature });
    else rejected.push({ site: m.site, reason: 'invalid consistency signature' });
  }
  if (signatures.length < params.threshold) {
    throw new SecAggError(`Only ${signatures.length} sites confirmed the survivor list; ${params.threshold} are needed`, 'too_few_survivors');
  }
  const dropped = shared.filter((s) => !survivorSet.has(s)).sort();
  return {
    request: { stage: SecAggRequest.Unmask, experiment: params.experiment, round: params.round, survivors: sorted, dropped, signatures },
    signers: signatures.map((s) => s.site),
    rejected,
  };
}

/** Everything the server kept during the round, needed to unmask. */
export interface UnmaskInput {
  /** Accepted advertisements (U1), from {@link routeAdvertisements}. */
  advertisements: readonly AdvertiseKeysMessage[];
  /** Accepted share messages (U2), from {@link routeShares}. */
  shareMessages: readonly ShareKeysMessage[];
  /** Sites whose masked vector is in `aggregate` (U3). */
  survivors: readonly string[];
  /** The running sum of the survivors' masked vectors. */
  aggregate: Uint32Array;
  /** The stage-4 replies received (at least t shares are needed for every secret). */
  unmaskMessages: readonly UnmaskMessage[];
}

/**
 * Stage 4: rebuilds each survivor's self-mask secret and each dropout's masking key from t shares,
 * checks them against the commitment / advertised public key (trying other t-subsets if some shares
 * are wrong), and removes every mask. Returns the
 * exact sum of the survivors' quantised inputs mod 2^32 (decode it with `dequantize`); `aggregate`
 * is not modified. Throws {@link SecAggError} `too_few_shares` if some secret has fewer than t shares,
 * or `bad_share` if no t-subset of its shares rebuilds a secret that matches.
 */
export function unmaskAggregate(params: SecAggParams, input: UnmaskInput): Uint32Array {
  const context = contextHash(params);
  const graph = neighbourGraph(params);
  const ads = new Map(input.advertisements.map((a) => [a.site, a]));
  const commitments = new Map(input.shareMessages.map((m) => [m.site, m.selfMaskCommitment]));
  const survivors = new Set(input.survivors);
  const dropped = [...commitments.keys()].filter((s) => !survivors.has(s)).sort();
  for (const s of survivors) if (!commitments.has(s)) throw new SecAggError(`Survivor ${s} never shared keys`, 'inconsistent_sets');

  const selfShares = new Map<string, Share[]>();
  const keyShares = new Map<string, Share[]>();
  const seenResponders = new Set<string>();
  for (const m of input.unmaskMessages) {
    if (!tagOk(params, m, SecAggStage.Unmask) || !survivors.has(m.site) || seenResponders.has(m.site)) continue;
    seenResponders.add(m.site);
    const neighbours = new Set(graph.get(m.site) ?? []);
    const collect = (into: Map<string, Share[]>, list: UnmaskMessage['selfMaskShares'], allowed: (owner: string) => boolean) => {
      for (const { owner, index, share } of list) {
        if (!neighbours.has(owner) || !allowed(owner)) continue;
        let value: Uint8Array;
        try {
          value = fromBase64(share);
        } catch {
          continue;
        }
        const shares = into.get(owner) ?? [];
        if (!shares.some((s) => s.index === index)) shares.push({ index, value });
        into.set(owner, shares);
      }
    };
    collect(selfShares, m.selfMaskShares, (o) => survivors.has(o));
    collect(keyShares, m.maskKeyShares, (o) => dropped.includes(o));
  }

  /**
   * Rebuilds a secret from t of the shares, accepting the first t-subset that passes `verify`, so a
   * few wrong shares (a faulty or lying responder) are tolerated when more than t arrived. At most
   * MAX_SUBSETS subsets are tried.
   */
  const rebuild = (owner: string, shares: Share[] | undefined, what: string, verify: (secret: Uint8Array) => boolean): Uint8Array => {
    const have = shares?.length ?? 0;
    if (!shares || have < params.threshold) {
      throw new SecAggError(`Only ${have} shares of ${owner}'s ${what}; ${params.threshold} are needed`, 'too_few_shares');
    }
    let tried = 0;
    for (const subset of subsets(shares.length, params.threshold)) {
      const secret = combine(subset.map((i) => shares[i] as Share));
      if (verify(secret)) return secret;
      if (++tried >= MAX_SUBSETS) break;
    }
    throw new SecAggError(`No ${params.threshold} of the ${have} shares of ${owner}'s ${what} rebuild it`, 'bad_share');
  };

  const result = new Uint32Array(input.aggregate);
  for (const owner of [...survivors].sort()) {
    const commitment = commitments.get(owner);
    const secret = rebuild(owner, selfShares.get(owner), 'self-mask secret', (b) => selfMaskCommitment(context, owner, b) === commitment);
    applyMask(result, selfMaskSeed(secret, context), -1);
  }
  for (const owner of dropped) {
    const liveNeighbours = (graph.get(owner) ?? []).filter((v) => survivors.has(v));
    if (liveNeighbours.length === 0) continue;
    const ad = ads.get(owner);
    if (!ad) throw new SecAggError(`Dropped site ${owner} has no advertisement`, 'inconsistent_sets');
    const secretKey = rebuild(owner, keyShares.get(owner), 'masking key', (k) => toBase64(nacl.scalarMult.base(k)) === ad.maskingPublicKey);
    for (const v of liveNeighbours) {
      const peer = ads.get(v);
      if (!peer) throw new SecAggError(`Survivor ${v} has no advertisement`, 'inconsistent_sets');
      // v added this mask if v < owner and subtracted it otherwise; undo that.
      applyMask(result, pairMaskSeed(secretKey, decodeKey(peer.maskingPublicKey, 32, 'maskingPublicKey'), owner, v, context), v < owner ? -1 : 1);
    }
  }
  return result;
}
