import { randomBytes } from 'node:crypto';
import {
  addMaskedInput,
  consistencyRequest,
  createAggregate,
  dequantize,
  graphDegree,
  recommendedNeighbours,
  recommendedThreshold,
  routeAdvertisements,
  routeShares,
  SecAggStage,
  unmaskAggregate,
  unmaskRequest,
  type AdvertiseKeysMessage,
  type ConsistencyCheckMessage,
  type SecAggParams,
  type ShareKeysMessage,
  type UnmaskMessage,
} from '@fedct/crypto';
import { SECAGG_SITE_EVENTS, sha256Hex } from '@fedct/protocol';
import { WeightedSum } from '@fedct/strategies';

/** Where a secure-aggregation round is. */
export type SecAggPhase = 'advertise' | 'share' | 'masked' | 'consistency' | 'unmask' | 'done' | 'failed';

/** A message the driver wants sent to one site. */
export interface Outgoing {
  site: string;
  event: (typeof SECAGG_SITE_EVENTS)[keyof typeof SECAGG_SITE_EVENTS];
  payload: Record<string, unknown>;
}

/** The outcome of a finished secure-aggregation round: the sample-weighted mean of the survivors' deltas. */
export interface SecAggOutcome {
  meanDelta: Float32Array;
  totalSampleCount: number;
  survivors: string[];
}

/** Builds the public parameters of a round (SecAgg+ graph and threshold as @fedct/crypto recommends). */
export function secAggParams(experiment: string, round: number, sites: Record<string, string>, vectorLength: number, clipRange: number, maxTotalWeight: number): SecAggParams {
  const n = Object.keys(sites).length;
  const params: SecAggParams = { experiment, round, sites, neighbours: recommendedNeighbours(n), threshold: 1, vectorLength, clipRange, maxTotalWeight, graphSeed: randomBytes(16).toString('base64') };
  params.threshold = Math.max(1, recommendedThreshold(graphDegree(params)));
  return params;
}

/**
 * The coordinator's side of one secure-aggregation round (Bonawitz et al. with the SecAgg+ graph, via
 * @fedct/crypto): collects each stage's messages, and when everyone expected has answered or the
 * stage's deadline passed, routes them and says what to send next. It holds one (d + 1)-word running
 * sum of masked vectors and never sees a site's update. No sockets or clock inside: the caller passes
 * `now` and sends {@link Outgoing} messages.
 */
export class SecAggDriver {
  phase: SecAggPhase = 'advertise';
  deadline: number;
  failure: string | null = null;
  private readonly ads = new Map<string, AdvertiseKeysMessage>();
  private acceptedAds: AdvertiseKeysMessage[] = [];
  private readonly shares = new Map<string, ShareKeysMessage>();
  private acceptedShares: ShareKeysMessage[] = [];
  private readonly aggregate: Uint32Array;
  private readonly survivors = new Set<string>();
  private readonly consistency = new Map<string, ConsistencyCheckMessage>();
  private readonly unmasks = new Map<string, UnmaskMessage>();
  private expected: Set<string>;

  constructor(
    readonly params: SecAggParams,
    private readonly stageMs: number,
    private readonly maskedDeadline: number,
    private readonly minSurvivors: number,
    now: number,
  ) {
    this.aggregate = createAggregate(params);
    this.expected = new Set(Object.keys(params.sites));
    this.deadline = now + stageMs;
  }

  /** Records a stage message from `site` (the session's site); returns why it was refused, or null. */
  receive(site: string, message: { stage: string; site: string }): string | null {
    if (message.site !== site) return `message claims site ${message.site}`;
    if (!this.expected.has(site)) return `not expecting ${message.stage} from this site now`;
    const want: Partial<Record<SecAggPhase, string>> = { advertise: SecAggStage.AdvertiseKeys, share: SecAggStage.ShareKeys, consistency: SecAggStage.ConsistencyCheck, unmask: SecAggStage.Unmask };
    if (want[this.phase] !== message.stage) return `the round is at ${this.phase}, not ${message.stage}`;
    const store = { advertise: this.ads, share: this.shares, consistency: this.consistency, unmask: this.unmasks }[this.phase as 'advertise' | 'share' | 'consistency' | 'unmask'] as Map<string, unknown>;
    if (store.has(site)) return `duplicate ${message.stage}`;
    store.set(site, message);
    return null;
  }

  /** Adds a site's masked vector (already authenticated as that site's sealed update); returns an error or null. */
  addMasked(site: string, vector: Uint8Array): string | null {
    if (this.phase !== 'masked') return `the round is at ${this.phase}, not accepting masked input`;
    if (!this.expected.has(site) || this.survivors.has(site)) return 'not expecting masked input from this site';
    try {
      addMaskedInput(this.params, this.aggregate, { stage: SecAggStage.MaskedInput, experiment: this.params.experiment, round: this.params.round, site, vectorLength: this.params.vectorLength + 1, vectorSha256: sha256Hex(vector) }, vector);
    } catch (error) {
      return (error as Error).message;
    }
    this.survivors.add(site);
    return null;
  }

  /** True when the current stage can advance: everyone expected answered, or its deadline passed. */
  ready(now: number): boolean {
    if (this.phase === 'done' || this.phase === 'failed') return false;
    const have = { advertise: this.ads.size, share: this.shares.size, masked: this.survivors.size, consistency: this.consistency.size, unmask: this.unmasks.size }[this.phase];
    return have >= this.expected.size || now >= this.deadline;
  }

  /** Moves to the next stage; returns the messages to send (the outcome is in {@link SecAggDriver.result}). */
  advance(now: number): Outgoing[] {
    try {
      return this.step(now);
    } catch (error) {
      this.fail((error as Error).message);
      return [];
    }
  }

  result: SecAggOutcome | null = null;

  private step(now: number): Outgoing[] {
    const tag = { experiment: this.params.experiment, round: this.params.round };
    switch (this.phase) {
      case 'advertise': {
        const routed = routeAdvertisements(this.params, [...this.ads.values()]);
        this.acceptedAds = routed.accepted;
        if (routed.accepted.length < this.minSurvivors) return this.fail(`only ${routed.accepted.length} sites advertised keys`);
        this.enter('share', Object.keys(routed.requests), now + this.stageMs);
        return Object.entries(routed.requests).map(([site, payload]) => ({ site, event: SECAGG_SITE_EVENTS.shareKeys, payload: { ...payload } }));
      }
      case 'share': {
        const routed = routeShares(this.params, this.acceptedAds.map((a) => a.site), [...this.shares.values()]);
        this.acceptedShares = routed.accepted;
        if (routed.accepted.length < this.minSurvivors) return this.fail(`only ${routed.accepted.length} sites shared keys`);
        this.enter('masked', Object.keys(routed.requests), Math.max(this.maskedDeadline, now + this.stageMs));
        return Object.entries(routed.requests).map(([site, payload]) => ({ site, event: SECAGG_SITE_EVENTS.maskedInput, payload: { ...payload } }));
      }
      case 'masked': {
        const survivors = [...this.survivors].sort();
        if (survivors.length < this.minSurvivors) return this.fail(`only ${survivors.length} masked inputs arrived`);
        this.enter('consistency', survivors, now + this.stageMs);
        const request = consistencyRequest(this.params, survivors);
        return survivors.map((site) => ({ site, event: SECAGG_SITE_EVENTS.consistencyCheck, payload: { ...request } }));
      }
      case 'consistency': {
        const survivors = [...this.survivors].sort();
        const { request, signers } = unmaskRequest(this.params, this.acceptedShares.map((m) => m.site), survivors, [...this.consistency.values()]);
        this.enter('unmask', signers, now + this.stageMs);
        return signers.map((site) => ({ site, event: SECAGG_SITE_EVENTS.unmask, payload: { ...request, ...tag } }));
      }
      case 'unmask': {
        const sum = unmaskAggregate(this.params, {
          advertisements: this.acceptedAds,
          shareMessages: this.acceptedShares,
          survivors: [...this.survivors].sort(),
          aggregate: this.aggregate,
          unmaskMessages: [...this.unmasks.values()],
        });
        const decoded = dequantize(sum, this.params);
        this.phase = 'done';
        this.expected = new Set();
        this.result = { meanDelta: decoded.mean, totalSampleCount: decoded.totalSampleCount, survivors: [...this.survivors].sort() };
        return [];
      }
      default:
        return [];
    }
  }

  /** Sites still expected to answer the current stage (for reporting dropouts). */
  waitingFor(): string[] {
    const have = { advertise: this.ads, share: this.shares, consistency: this.consistency, unmask: this.unmasks }[this.phase as 'advertise'];
    if (this.phase === 'masked') return [...this.expected].filter((s) => !this.survivors.has(s));
    return have ? [...this.expected].filter((s) => !have.has(s)) : [];
  }

  private enter(phase: SecAggPhase, expected: string[], deadline: number): void {
    this.phase = phase;
    this.expected = new Set(expected);
    this.deadline = deadline;
  }

  private fail(reason: string): Outgoing[] {
    this.phase = 'failed';
    this.failure = `secure aggregation failed: ${reason}`;
    return [];
  }
}

/**
 * Runs a round's SecAgg driver through every stage that is due (sending what each stage asks for).
 * `done`: the round's `sum` now holds base + the survivors' mean delta, ready to publish; `failed`:
 * with why; null: waiting for more messages or a stage deadline.
 */
export function advanceSecAggStages(
  active: { experimentId: string; round: number; closing: boolean; secagg: SecAggDriver | null; base: { weights: Float32Array } | null; sum: WeightedSum | null },
  send: (message: Outgoing) => void,
  log: (line: string) => void,
): { kind: 'done' } | { kind: 'failed'; reason: string } | null {
  const driver = active.secagg!;
  while (!active.closing && driver.ready(Date.now())) {
    const before = driver.phase;
    for (const m of driver.advance(Date.now())) send(m);
    log(`experiment ${active.experimentId} round ${active.round}: secure aggregation ${before} → ${driver.phase}`);
    if (driver.phase === 'failed') return { kind: 'failed', reason: driver.failure ?? 'secure aggregation failed' };
    if (driver.phase === 'done' && driver.result) {
      const base = active.base!.weights;
      const weights = new Float32Array(base.length);
      for (let i = 0; i < base.length; i++) weights[i] = base[i]! + driver.result.meanDelta[i]!;
      active.sum = new WeightedSum(base.length);
      active.sum.fold(weights, 1);
      return { kind: 'done' };
    }
  }
  return null;
}
