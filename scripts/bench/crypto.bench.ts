/**
 * Crypto benchmarks (issue 5): envelope sealing/opening of a BCDU-Net-sized update, chunking, and
 * secure aggregation among 100 sites (SecAgg+ graph, 10 % dropout) for a 5,167,365-parameter update.
 * The unmasking is timed on the full-size vector; its correctness is checked on the same 100-site
 * protocol with a short vector (the work does not depend on the values).
 */
import {
  ChunkAssembler,
  type ConsistencyCheckMessage,
  type SecAggParams,
  type SiteSecAggState,
  type UnmaskMessage,
  addMaskedInput,
  advertiseKeys,
  consistencyCheck,
  consistencyRequest,
  createAggregate,
  createNonce,
  generateIdentity,
  maskedInput,
  open,
  quantize,
  recommendedNeighbours,
  recommendedThreshold,
  routeAdvertisements,
  routeShares,
  seal,
  seededRandomBytes,
  shareKeys,
  splitIntoChunks,
  toBase64,
  unmask,
  unmaskAggregate,
  unmaskRequest,
} from '@fedct/crypto';
import type { BenchSuite } from './types';

const PARAMS = 5_167_365;

const seconds = (t0: number) => (performance.now() - t0) / 1000;

function updateOf(i: number, d: number): Float32Array {
  const u = new Float32Array(d);
  for (let j = 0; j < d; j++) u[j] = Math.sin(i * 31 + j * 0.001) * 0.01;
  return u;
}

interface Round {
  params: SecAggParams;
  ids: string[];
  keys: Map<string, Uint8Array>;
}

function makeRound(siteCount: number, vectorLength: number): Round {
  const rng = seededRandomBytes('bench-secagg');
  const keys = new Map<string, Uint8Array>();
  const sites: Record<string, string> = {};
  const ids = Array.from({ length: siteCount }, (_, i) => `site-${String(i).padStart(3, '0')}`);
  for (const id of ids) {
    const identity = generateIdentity(rng(32));
    keys.set(id, identity.signing.secretKey);
    sites[id] = toBase64(identity.signing.publicKey);
  }
  const neighbours = recommendedNeighbours(siteCount);
  const threshold = recommendedThreshold(Math.min(neighbours, siteCount - 1));
  return {
    params: { experiment: 'bench', round: 1, sites, neighbours, threshold, vectorLength, clipRange: 1, maxTotalWeight: 1_000_000, graphSeed: 'bench' },
    ids,
    keys,
  };
}

/**
 * Runs the protocol for 100 sites with the last 10 % dropping after sharing keys. Only `maskedBy`
 * sites compute a masked vector (all survivors when verifying); returns timings and the sum.
 */
function runSecAgg(round: Round, options: { fullMasking: boolean }) {
  const { params, ids, keys } = round;
  const rng = seededRandomBytes('bench-secagg-run');
  const key = (id: string) => keys.get(id) ?? new Uint8Array(64);
  const dropped = new Set(ids.slice(Math.round(ids.length * 0.9)));
  const states = new Map<string, SiteSecAggState>();
  const siteTime = new Map<string, number>();
  const timed = <T>(id: string, fn: () => T): T => {
    const t0 = performance.now();
    const out = fn();
    siteTime.set(id, (siteTime.get(id) ?? 0) + seconds(t0));
    return out;
  };

  const ads = ids.map((id) =>
    timed(id, () => {
      const out = advertiseKeys(params, id, key(id), rng);
      states.set(id, out.state);
      return out.message;
    }),
  );
  const routedAds = routeAdvertisements(params, ads);
  const shareMessages = Object.entries(routedAds.requests).map(([id, request]) =>
    timed(id, () => {
      const out = shareKeys(states.get(id) as SiteSecAggState, request, rng);
      states.set(id, out.state);
      return out.message;
    }),
  );
  const routedShares = routeShares(params, routedAds.accepted.map((a) => a.site), shareMessages);
  const survivors = ids.filter((id) => !dropped.has(id));
  const aggregate = createAggregate(params);
  let maskSecondsFirst = 0;
  for (const [index, id] of survivors.entries()) {
    const request = routedShares.requests[id];
    if (!request) throw new Error(`no request for ${id}`);
    if (!options.fullMasking && index > 0) {
      // Timing run: the other survivors' masked vectors are not computed (same cost each).
      const received = Object.fromEntries(request.shares.map((x) => [x.from, x.ciphertext]));
      states.set(id, { ...(states.get(id) as SiteSecAggState), stage: 'masked-input', received });
      continue;
    }
    const out = timed(id, () => maskedInput(states.get(id) as SiteSecAggState, request, updateOf(index, params.vectorLength), 100 + index));
    if (index === 0) maskSecondsFirst = siteTime.get(id) ?? 0;
    states.set(id, out.state);
    addMaskedInput(params, aggregate, out.message, out.maskedVector);
  }
  const check = consistencyRequest(params, survivors);
  const consistency: ConsistencyCheckMessage[] = survivors.map((id) =>
    timed(id, () => {
      const out = consistencyCheck(states.get(id) as SiteSecAggState, check, key(id));
      states.set(id, out.state);
      return out.message;
    }),
  );
  const { request } = unmaskRequest(params, routedShares.accepted.map((m) => m.site), survivors, consistency);
  const unmaskMessages: UnmaskMessage[] = survivors.map((id) =>
    timed(id, () => {
      const out = unmask(states.get(id) as SiteSecAggState, request);
      states.set(id, out.state);
      return out.message;
    }),
  );
  const t0 = performance.now();
  const sum = unmaskAggregate(params, { advertisements: routedAds.accepted, shareMessages: routedShares.accepted, survivors, aggregate, unmaskMessages });
  const unmaskSeconds = seconds(t0);
  return { sum, survivors, siteSeconds: siteTime.get(survivors[0] ?? '') ?? 0, maskSeconds: maskSecondsFirst, unmaskSeconds };
}

const run: BenchSuite = async function* ({ quick }) {
  const payload = new Uint8Array(new Float32Array(PARAMS).map((_, i) => Math.sin(i)).buffer);
  const site = generateIdentity(new Uint8Array(32).fill(1));
  const coordinator = generateIdentity(new Uint8Array(32).fill(2));
  const header = { experiment: 'bench', round: 1, site: 'site-a', baseModelSha256: '0'.repeat(64), sampleCount: 100, metrics: { loss: 0.1 }, nonce: createNonce(), time: new Date().toISOString() };
  const reps = quick ? 2 : 5;
  let sealed = seal(header, payload, site.signing.secretKey, coordinator.box.publicKey);
  let t0 = performance.now();
  for (let r = 0; r < reps; r++) sealed = seal({ ...header, nonce: createNonce() }, payload, site.signing.secretKey, coordinator.box.publicKey);
  const sealSeconds = seconds(t0) / reps;
  yield { metric: 'envelope.seal.mb_per_s', value: payload.length / 1e6 / sealSeconds, unit: 'MB/s', megabytes: payload.length / 1e6, seconds: sealSeconds };
  t0 = performance.now();
  for (let r = 0; r < reps; r++) if (!open(sealed, site.signing.publicKey, coordinator.box.secretKey)) throw new Error('open failed');
  const openSeconds = seconds(t0) / reps;
  yield { metric: 'envelope.open.mb_per_s', value: payload.length / 1e6 / openSeconds, unit: 'MB/s', megabytes: payload.length / 1e6, seconds: openSeconds };

  t0 = performance.now();
  for (let r = 0; r < reps; r++) {
    const { manifest, chunks } = splitIntoChunks(sealed);
    const assembler = new ChunkAssembler(manifest);
    chunks.forEach((c, i) => assembler.accept(i, c));
    assembler.result();
  }
  yield { metric: 'chunks.roundtrip.mb_per_s', value: (reps * sealed.length) / 1e6 / seconds(t0), unit: 'MB/s', chunkKiB: 512 };

  const sites = quick ? 20 : 100;
  // Correctness on the same protocol with a short vector: the unmasked sum equals the survivors' quantised sum.
  const small = makeRound(sites, 1000);
  const check = runSecAgg(small, { fullMasking: true });
  const expected = new Uint32Array(1001);
  check.survivors.forEach((_, index) => {
    const q = quantize(updateOf(index, 1000), 100 + index, small.params);
    for (let j = 0; j < q.length; j++) expected[j] = (expected[j] ?? 0) + (q[j] ?? 0);
  });
  const verified = Buffer.from(check.sum.buffer).equals(Buffer.from(expected.buffer));
  if (!verified) throw new Error('secure aggregation check failed: the unmasked sum is wrong');

  const full = runSecAgg(makeRound(sites, PARAMS), { fullMasking: false });
  const context = { sites, neighbours: recommendedNeighbours(sites), threshold: recommendedThreshold(recommendedNeighbours(sites)), dropout: 0.1, params: PARAMS, verified };
  yield { metric: 'secagg.mask.seconds', value: full.maskSeconds, unit: 's', ...context };
  yield { metric: 'secagg.site.seconds', value: full.siteSeconds, unit: 's', stages: 'all five', ...context };
  yield { metric: 'secagg.unmask.seconds', value: full.unmaskSeconds, unit: 's', ...context };
};
export default run;
