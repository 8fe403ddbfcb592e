/**
 * An in-memory run of the whole protocol, for tests, benchmarks and the demo: every site and the
 * server in one process, with dropouts injected between stages.
 */
import { toBase64 } from '../bytes';
import { SecAggError } from '../errors';
import { generateIdentity } from '../keys';
import { seededRandomBytes } from '../random';
import { type DecodedAggregate, dequantize } from './secagg.masking';
import type { AdvertiseKeysMessage, ConsistencyCheckMessage, MaskedInputMessage, ShareKeysMessage, SiteSecAggState, UnmaskMessage } from './secagg.messages';
import type { SecAggParams } from './secagg.params';
import {
  addMaskedInput,
  consistencyRequest,
  createAggregate,
  routeAdvertisements,
  routeShares,
  unmaskAggregate,
  unmaskRequest,
} from './secagg.server';
import { advertiseKeys, consistencyCheck, maskedInput, shareKeys, unmask } from './secagg.site';

/** What to simulate. Site ids are `site-00`, `site-01`, ... unless given. */
export interface SimulateOptions {
  siteCount: number;
  neighbours: number;
  threshold: number;
  vectorLength: number;
  clipRange: number;
  maxTotalWeight: number;
  /** The update of site i (length vectorLength). */
  update: (siteIndex: number) => Float32Array;
  /** The sample count of site i. */
  sampleCount: (siteIndex: number) => number;
  /** Sites that never advertise keys. */
  dropBeforeAdvertise?: readonly string[];
  /** Sites that advertise but never send shares. */
  dropBeforeShare?: readonly string[];
  /** Sites that send shares but never their masked input (their pair masks must be cancelled). */
  dropAfterShare?: readonly string[];
  /** Survivors that sign the consistency check but never answer the unmask request. */
  dropBeforeUnmask?: readonly string[];
  /** Seed for every random choice (keys, secrets, graph). */
  seed: string | number;
  experiment?: string;
  round?: number;
}

/** The outcome: the unmasked sum, its decoding, the sets, and how long the parts took. */
export interface SimulateResult {
  params: SecAggParams;
  siteIds: string[];
  survivors: string[];
  dropped: string[];
  sum: Uint32Array;
  /** The survivors' masked vectors summed, before unmasking. */
  aggregate: Uint32Array;
  decoded: DecodedAggregate;
  /** Seconds each surviving site spent in `maskedInput`. */
  maskSeconds: number[];
  /** Seconds the server spent in `unmaskAggregate`. */
  unmaskSeconds: number;
  /** The messages, for tests that replay or tamper with them. */
  transcript: {
    advertisements: AdvertiseKeysMessage[];
    shareMessages: ShareKeysMessage[];
    maskedMessages: MaskedInputMessage[];
    consistency: ConsistencyCheckMessage[];
    unmaskMessages: UnmaskMessage[];
  };
}

/** Every message and site state crosses a JSON round trip, as it would over socket.io or a restart. */
function wire<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Runs all five stages for `siteCount` sites in memory, passing every message and state through JSON. */
export function simulateSecAgg(options: SimulateOptions): SimulateResult {
  const rng = seededRandomBytes(`secagg-sim/${options.seed}`);
  const ids = Array.from({ length: options.siteCount }, (_, i) => `site-${String(i).padStart(2, '0')}`);
  const identities = new Map(ids.map((id) => [id, generateIdentity(rng(32))]));
  const sites: Record<string, string> = {};
  for (const [id, identity] of identities) sites[id] = toBase64(identity.signing.publicKey);
  const params: SecAggParams = {
    experiment: options.experiment ?? 'simulation',
    round: options.round ?? 1,
    sites,
    neighbours: options.neighbours,
    threshold: options.threshold,
    vectorLength: options.vectorLength,
    clipRange: options.clipRange,
    maxTotalWeight: options.maxTotalWeight,
    graphSeed: toBase64(rng(16)),
  };
  const gone = new Set(options.dropBeforeAdvertise ?? []);
  const states = new Map<string, SiteSecAggState>();
  const signingKey = (id: string) => {
    const identity = identities.get(id);
    if (!identity) throw new SecAggError(`unknown site ${id}`);
    return identity.signing.secretKey;
  };

  const advertisements: AdvertiseKeysMessage[] = [];
  for (const id of ids) {
    if (gone.has(id)) continue;
    const { state, message } = advertiseKeys(params, id, signingKey(id), rng);
    states.set(id, wire(state));
    advertisements.push(wire(message));
  }
  const routedAds = routeAdvertisements(params, advertisements);

  for (const id of options.dropBeforeShare ?? []) gone.add(id);
  const shareMessages: ShareKeysMessage[] = [];
  for (const [id, request] of Object.entries(routedAds.requests)) {
    const state = states.get(id);
    if (gone.has(id) || !state) continue;
    const out = shareKeys(state, wire(request), rng);
    states.set(id, wire(out.state));
    shareMessages.push(wire(out.message));
  }
  const routedShares = routeShares(params, routedAds.accepted.map((a) => a.site), shareMessages);

  for (const id of options.dropAfterShare ?? []) gone.add(id);
  const aggregate = createAggregate(params);
  const survivors: string[] = [];
  const maskSeconds: number[] = [];
  const maskedMessages: MaskedInputMessage[] = [];
  for (const [id, request] of Object.entries(routedShares.requests)) {
    const state = states.get(id);
    if (gone.has(id) || !state) continue;
    const index = ids.indexOf(id);
    const update = options.update(index);
    const count = options.sampleCount(index);
    const inbound = wire(request);
    const t0 = performance.now();
    const out = maskedInput(state, inbound, update, count);
    maskSeconds.push((performance.now() - t0) / 1000);
    states.set(id, wire(out.state));
    addMaskedInput(params, aggregate, out.message, out.maskedVector);
    maskedMessages.push(wire(out.message));
    survivors.push(id);
  }

  const checkRequest = consistencyRequest(params, survivors);
  const consistency: ConsistencyCheckMessage[] = [];
  for (const id of survivors) {
    const state = states.get(id);
    if (!state) continue;
    const out = consistencyCheck(state, checkRequest, signingKey(id));
    states.set(id, wire(out.state));
    consistency.push(wire(out.message));
  }
  const { request } = unmaskRequest(params, routedShares.accepted.map((m) => m.site), survivors, consistency);

  const unmaskMessages: UnmaskMessage[] = [];
  const silent = new Set(options.dropBeforeUnmask ?? []);
  for (const id of survivors) {
    const state = states.get(id);
    if (silent.has(id) || !state) continue;
    const out = unmask(state, wire(request));
    states.set(id, wire(out.state));
    unmaskMessages.push(wire(out.message));
  }
  const t0 = performance.now();
  const sum = unmaskAggregate(params, { advertisements: routedAds.accepted, shareMessages: routedShares.accepted, survivors, aggregate, unmaskMessages });
  const unmaskSeconds = (performance.now() - t0) / 1000;
  return {
    params,
    siteIds: ids,
    survivors: [...survivors].sort(),
    dropped: request.dropped,
    sum,
    aggregate,
    decoded: dequantize(sum, params),
    maskSeconds,
    unmaskSeconds,
    transcript: { advertisements, shareMessages, maskedMessages, consistency, unmaskMessages },
  };
}
