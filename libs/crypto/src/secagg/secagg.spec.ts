import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../bytes';
import { SecAggError } from '../errors';
import { generateIdentity } from '../keys';
import { seededRandomBytes } from '../random';
import { combine } from '../shamir';
import { SecAggRequest } from './secagg.constants';
import { bytesToVector, dequantize, quantize } from './secagg.masking';
import { type SecAggParams, fixedPointScale, neighbourGraph, recommendedNeighbours, recommendedThreshold, validateParams } from './secagg.params';
import { routeAdvertisements, unmaskAggregate } from './secagg.server';
import { simulateSecAgg } from './secagg.simulate';
import { advertiseKeys, consistencyCheck, maskedInput, shareKeys, unmask } from './secagg.site';

const D = 500;
const CLIP = 1;
const MAX_WEIGHT = 100_000;
const updateOf = (i: number) => new Float32Array(D).map((_, j) => Math.sin(i * 13 + j * 0.7) * 0.8 + (j === 0 ? 5 : 0)); // element 0 is clipped
const countOf = (i: number) => 50 + 37 * i;

/** The exact quantised sum, computed here independently of `quantize`, with BigInt arithmetic mod 2^32. */
function expectedSum(siteIndices: number[]): Uint32Array {
  const scale = (2 ** 31 - 2 ** 20) / (CLIP * MAX_WEIGHT);
  const acc = new Array<bigint>(D + 1).fill(0n);
  for (const i of siteIndices) {
    const u = updateOf(i);
    for (let j = 0; j < D; j++) {
      const x = Math.min(CLIP, Math.max(-CLIP, u[j] ?? 0));
      acc[j] = (acc[j] ?? 0n) + BigInt(Math.round(x * countOf(i) * scale));
    }
    acc[D] = (acc[D] ?? 0n) + BigInt(countOf(i));
  }
  return Uint32Array.from(acc.map((v) => Number(BigInt.asUintN(32, v))));
}

const base = { vectorLength: D, clipRange: CLIP, maxTotalWeight: MAX_WEIGHT, update: updateOf, sampleCount: countOf };

describe(simulateSecAgg.name, () => {
  it('10 sites, 3 drop out after sharing keys: the unmasked sum is exactly the 7 survivors\' quantised sum', () => {
    const result = simulateSecAgg({ ...base, siteCount: 10, neighbours: 9, threshold: 5, dropAfterShare: ['site-02', 'site-05', 'site-09'], seed: 'ten' });
    expect(result.survivors).toEqual(['site-00', 'site-01', 'site-03', 'site-04', 'site-06', 'site-07', 'site-08']);
    expect(result.dropped).toEqual(['site-02', 'site-05', 'site-09']);
    const survivorsIdx = [0, 1, 3, 4, 6, 7, 8];
    expect(Buffer.from(result.sum.buffer).equals(Buffer.from(expectedSum(survivorsIdx).buffer))).toBe(true);

    // Weighted FedAvg: the decoded mean is Σ wᵢ clip(xᵢ) / Σ wᵢ to fixed-point precision.
    const total = survivorsIdx.reduce((a, i) => a + countOf(i), 0);
    expect(result.decoded.totalSampleCount).toBe(total);
    for (let j = 0; j < D; j += 37) {
      const mean = survivorsIdx.reduce((a, i) => a + countOf(i) * Math.min(CLIP, Math.max(-CLIP, updateOf(i)[j] ?? 0)), 0) / total;
      expect(Math.abs((result.decoded.mean[j] ?? 0) - mean)).toBeLessThan(1e-5);
    }
  });

  it('tolerates one wrong share when more than t arrive, and refuses when too many are wrong', () => {
    const result = simulateSecAgg({ ...base, siteCount: 10, neighbours: 9, threshold: 5, dropAfterShare: ['site-02', 'site-05', 'site-09'], seed: 'liar' });
    const { params, transcript } = result;
    const ads = routeAdvertisements(params, transcript.advertisements).accepted;
    const lie = (m: (typeof transcript.unmaskMessages)[number]) => ({
      ...m,
      selfMaskShares: m.selfMaskShares.map((s) => ({ ...s, share: toBase64(fromBase64(s.share).map((b) => b ^ 0x5a)) })),
      maskKeyShares: m.maskKeyShares.map((s) => ({ ...s, share: toBase64(fromBase64(s.share).map((b) => b ^ 0x5a)) })),
    });
    const [first, second, ...others] = transcript.unmaskMessages;
    if (!first || !second) throw new Error('missing replies');
    const input = { advertisements: ads, shareMessages: transcript.shareMessages, survivors: result.survivors, aggregate: result.aggregate };
    const oneLiar = unmaskAggregate(params, { ...input, unmaskMessages: [lie(first), second, ...others] });
    expect(Buffer.from(oneLiar.buffer).equals(Buffer.from(result.sum.buffer))).toBe(true);
    // Two liars leave some secret (6 shares, t = 5) with no consistent 5-subset.
    expect(() => unmaskAggregate(params, { ...input, unmaskMessages: [lie(first), lie(second), ...others] })).toThrow(/rebuild it/);
  });

  it('5 sites, complete graph, nobody drops: the sum is exact', () => {
    const result = simulateSecAgg({ ...base, siteCount: 5, neighbours: 4, threshold: 3, seed: 'look' });
    expect(result.transcript.maskedMessages).toHaveLength(5);
    const sum = result.sum;
    expect(Buffer.from(sum.buffer).equals(Buffer.from(expectedSum([0, 1, 2, 3, 4]).buffer))).toBe(true);
  });

  it('with fewer than t unmask replies (t - 1 shares per secret) the masks cannot be removed', () => {
    // 7 survivors, t = 5: one survivor stays silent at unmasking; every secret still has >= t shares
    // (a site holds no share of its own secrets).
    const result = simulateSecAgg({
      ...base,
      siteCount: 10,
      neighbours: 9,
      threshold: 5,
      dropAfterShare: ['site-02', 'site-05', 'site-09'],
      dropBeforeUnmask: ['site-00'],
      seed: 'threshold',
    });
    expect(result.transcript.unmaskMessages).toHaveLength(6);
    expect(Buffer.from(result.sum.buffer).equals(Buffer.from(expectedSum([0, 1, 3, 4, 6, 7, 8]).buffer))).toBe(true);

    // Rebuild the server's view with one reply fewer: t - 1 shares per secret.
    const { params, transcript } = result;
    const ads = routeAdvertisements(params, transcript.advertisements).accepted;
    const fewer = transcript.unmaskMessages.slice(0, 4);
    const input = { advertisements: ads, shareMessages: transcript.shareMessages, survivors: result.survivors, aggregate: new Uint32Array(D + 1), unmaskMessages: fewer };
    expect(() => unmaskAggregate(params, input)).toThrow(/Only 4 shares .* 5 are needed/);
    try {
      unmaskAggregate(params, input);
    } catch (error) {
      expect(error).toBeInstanceOf(SecAggError);
      expect((error as SecAggError).code).toBe('too_few_shares');
    }
    // Combining the 4 shares anyway does not give the dropped site's masking key.
    const shares = fewer.flatMap((m) => m.maskKeyShares.filter((s) => s.owner === 'site-05').map((s) => ({ index: s.index, value: fromBase64(s.share) })));
    expect(shares).toHaveLength(4);
    const guess = combine(shares);
    const advertised = transcript.advertisements.find((a) => a.site === 'site-05')?.maskingPublicKey;
    expect(toBase64(nacl.scalarMult.base(guess))).not.toBe(advertised);
  });

  it('SecAgg+ sparse graph: 20 sites, 10 neighbours each, dropouts before advertising, before sharing and after sharing', () => {
    // t = 6 of 10 neighbours tolerates 4 losses in any neighbourhood; 4 sites go, 1 stays silent.
    const result = simulateSecAgg({
      ...base,
      siteCount: 20,
      neighbours: 10,
      threshold: 6,
      dropBeforeAdvertise: ['site-03'],
      dropBeforeShare: ['site-11'],
      dropAfterShare: ['site-07', 'site-15'],
      seed: 'sparse',
    });
    const gone = new Set([3, 11, 7, 15]);
    const survivors = Array.from({ length: 20 }, (_, i) => i).filter((i) => !gone.has(i));
    expect(result.survivors).toHaveLength(16);
    expect(result.dropped).toEqual(['site-07', 'site-15']);
    expect(Buffer.from(result.sum.buffer).equals(Buffer.from(expectedSum(survivors).buffer))).toBe(true);
    // Each site shared with at most 10 neighbours, not 19.
    const shareCounts = result.transcript.shareMessages.map((m) => m.shares.length);
    expect(Math.max(...shareCounts)).toBeLessThanOrEqual(10);
  });
});

function makeParams(n: number, neighbours: number, threshold: number): { params: SecAggParams; keys: Map<string, Uint8Array> } {
  const rng = seededRandomBytes(`params-${n}`);
  const keys = new Map<string, Uint8Array>();
  const sites: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const id = `s${String(i).padStart(3, '0')}`;
    const identity = generateIdentity(rng(32));
    keys.set(id, identity.signing.secretKey);
    sites[id] = toBase64(identity.signing.publicKey);
  }
  return { params: { experiment: 'e', round: 2, sites, neighbours, threshold, vectorLength: 8, clipRange: 1, maxTotalWeight: 1000, graphSeed: 'g' }, keys };
}

describe(neighbourGraph.name, () => {
  const { params } = makeParams(100, 20, 14);

  it('is symmetric, has degree k, and changes with the seed', () => {
    const graph = neighbourGraph(params);
    for (const [site, neighbours] of graph) {
      expect(neighbours).toHaveLength(20);
      expect(neighbours).not.toContain(site);
      for (const v of neighbours) expect(graph.get(v)).toContain(site);
    }
    const other = neighbourGraph({ ...params, graphSeed: 'h' });
    expect(other.get('s000')).not.toEqual(graph.get('s000'));
  });

  it('recommends about 3·log2(n) neighbours and a two-thirds threshold', () => {
    expect(recommendedNeighbours(100)).toBe(20);
    expect(recommendedNeighbours(10)).toBe(9);
    expect(recommendedThreshold(20)).toBe(14);
    expect(() => validateParams(params)).not.toThrow();
    expect(() => validateParams({ ...params, threshold: 10 })).toThrow(/threshold/);
    expect(() => validateParams({ ...params, neighbours: 21 })).toThrow(/even/);
  });
});

describe(quantize.name, () => {
  it('clips, weights and scales by hand-computed values, wrapping negatives mod 2^32', () => {
    const { params } = makeParams(3, 2, 2);
    const p = { ...params, vectorLength: 4 };
    const scale = fixedPointScale(1, 1000);
    expect(scale).toBe((2 ** 31 - 2 ** 20) / 1000);
    const q = quantize(new Float32Array([0.5, -2, 0, -0.25]), 3, p);
    expect([...q]).toEqual([Math.round(1.5 * scale), 2 ** 32 - Math.round(3 * scale), 0, 2 ** 32 - Math.round(0.75 * scale), 3]);
    const decoded = dequantize(q, p);
    expect(decoded.totalSampleCount).toBe(3);
    expect(decoded.mean[0]).toBeCloseTo(0.5, 6);
    expect(decoded.mean[1]).toBeCloseTo(-1, 6);
    expect(() => quantize(new Float32Array([Number.NaN, 0, 0, 0]), 1, p)).toThrow(/non-finite/);
    expect(() => quantize(new Float32Array(4), 1001, p)).toThrow(/sampleCount/);
    const overflow = new Uint32Array(5);
    overflow[4] = 1001;
    expect(() => dequantize(overflow, p)).toThrow(/overflow/);
    expect(bytesToVector(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 128]))).toEqual(new Uint32Array([1, 2 ** 31]));
  });
});

describe('site stage checks', () => {
  const { params, keys } = makeParams(5, 4, 3);
  const key = (id: string) => keys.get(id) ?? new Uint8Array(64);
  const rng = seededRandomBytes('site-checks');
  const started = [...keys.keys()].map((id) => advertiseKeys(params, id, key(id), rng));
  const routed = routeAdvertisements(params, started.map((s) => s.message));
  const first = started[0];
  if (!first) throw new Error('no sites');

  it('refuses to join with a key that is not the enrolled one', () => {
    expect(() => advertiseKeys(params, 's000', key('s001'))).toThrow(/enrolled/);
    expect(() => advertiseKeys(params, 'nobody', key('s001'))).toThrow(/not part/);
  });

  it('refuses a forged advertisement (site and server)', () => {
    const request = routed.requests['s000'];
    if (!request) throw new Error('no request');
    const forged = request.advertisements.map((a, i) => (i === 0 ? { ...a, maskingPublicKey: toBase64(nacl.box.keyPair().publicKey) } : a));
    expect(() => shareKeys(first.state, { ...request, advertisements: forged }, rng)).toThrow(/bad signature/);
    const serverView = routeAdvertisements(params, [...started.slice(1).map((s) => s.message), { ...first.message, signature: toBase64(new Uint8Array(64)) }]);
    expect(serverView.rejected).toContainEqual({ site: 's000', reason: 'bad signature' });
    expect(() => shareKeys(first.state, { ...request, round: 3 }, rng)).toThrow(/round/);
  });

  it('refuses an unmask request whose survivor list differs from the one it signed', () => {
    const shared = [...keys.keys()].map((id, i) => {
      const state = started[i]?.state;
      const request = routed.requests[id];
      if (!state || !request) throw new Error('missing');
      return shareKeys(state, request, rng);
    });
    const inbound = (id: string) => ({
      stage: SecAggRequest.MaskedInput,
      experiment: 'e',
      round: 2,
      shares: shared.flatMap((s) => s.message.shares.filter((x) => x.to === id).map((x) => ({ from: s.message.site, ciphertext: x.ciphertext }))),
    });
    const s0 = shared[0];
    if (!s0) throw new Error('missing');
    const input = new Float32Array([0.1, -0.2, 0.3, 0, 0, 0.5, -1, 1]);
    const masked = maskedInput(s0.state, inbound('s000'), input, 7);
    // What leaves the site shares no element with its quantised input.
    const plain = quantize(input, 7, params);
    const sent = bytesToVector(masked.maskedVector);
    expect(sent.filter((v, i) => v === plain[i])).toHaveLength(0);
    const survivors = ['s000', 's001', 's002', 's003'];
    const checked = consistencyCheck(masked.state, { stage: SecAggRequest.ConsistencyCheck, experiment: 'e', round: 2, survivors }, key('s000'));
    const signatures = [checked.message];
    const request = { stage: SecAggRequest.Unmask, experiment: 'e', round: 2, survivors: ['s000', 's001', 's002'], dropped: ['s003', 's004'], signatures };
    expect(() => unmask(checked.state, request)).toThrow(/differs/);
    // Even with the right list, one signature is fewer than t = 3.
    expect(() => unmask(checked.state, { ...request, survivors, dropped: ['s004'] })).toThrow(/consistency signatures/);
    // A tampered share bundle is refused at masking time.
    const bad = inbound('s001');
    const firstShare = bad.shares[0];
    if (!firstShare) throw new Error('no share');
    const bytes = fromBase64(firstShare.ciphertext);
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    bad.shares[0] = { ...firstShare, ciphertext: toBase64(bytes) };
    const s1 = shared[1];
    if (!s1) throw new Error('missing');
    expect(() => maskedInput(s1.state, bad, new Float32Array(8), 1)).toThrow(/does not decrypt/);
  });
});
