import type { ExperimentSettings, HyperParameters } from '@fedct/protocol';

/**
 * A running, sample-weighted sum of weight vectors in float64: each accepted update is folded in as it
 * arrives, so memory is one model (×2 for float64) whatever the number of sites.
 */
export class WeightedSum {
  readonly sum: Float64Array;
  totalWeight = 0;
  count = 0;

  constructor(readonly length: number) {
    this.sum = new Float64Array(length);
  }

  /** Adds `weight × update` (weight = the site's sample count for FedAvg). */
  fold(update: Float32Array, weight: number): void {
    if (update.length !== this.length) throw new RangeError(`update has ${update.length} values, expected ${this.length}`);
    if (!(weight > 0)) throw new RangeError(`weight must be positive, got ${weight}`);
    const sum = this.sum;
    for (let i = 0; i < sum.length; i++) sum[i]! += weight * update[i]!;
    this.totalWeight += weight;
    this.count++;
  }

  /** The weighted mean as float32. */
  mean(): Float32Array {
    if (this.count === 0) throw new RangeError('mean of an empty sum');
    const out = new Float32Array(this.length);
    const inv = 1 / this.totalWeight;
    for (let i = 0; i < out.length; i++) out[i] = this.sum[i]! * inv;
    return out;
  }
}

/** Reads coordinates `[offset, offset + length)` of every accepted update, one array per site. */
export type UpdateBlockReader = (offset: number, length: number) => Float32Array[];

/** Server-side optimiser state that survives rounds (e.g. FedAdam moments), keyed by name. */
export type StrategyState = Map<string, Float32Array>;

export interface AggregateInput {
  /** Current global weights; null in round 1 of an experiment without an initial model. */
  base: Float32Array | null;
  /** Accepted updates: site and sample count (weights are in `sum` or behind `readBlock`). */
  accepted: { siteId: string; sampleCount: number }[];
  /** Invited sites that did not contribute, with why (dropped, rejected, failed). */
  failures: { siteId: string; reason: string }[];
  /** Streaming strategies: the running sum of accepted updates. */
  sum: WeightedSum | null;
  /** Robust strategies: random access to the accepted updates, block by block. */
  readBlock: UpdateBlockReader | null;
  /** Number of weights. */
  length: number;
}

/** "A new global model" or "keep the previous one" (a valid answer, with why). */
export type AggregateResult = { kind: 'model'; weights: Float32Array } | { kind: 'keep'; reason: string };

/** What participant selection is given (Flower's `configure_fit` sampling). */
export interface SelectionOptions {
  /** Quorum: at least this many sites take part (all available ones if fewer). */
  minSites: number;
  /** Share of the available sites to invite (0, 1]. */
  fractionFit: number;
  /** Uniform integer in [0, max): the caller's source of randomness (seeded or not). */
  randomInt: (max: number) => number;
}

/** One accepted result as metric aggregation sees it. */
export interface MetricsInput {
  sampleCount: number | null;
  metrics: Record<string, number> | null;
}

/**
 * A federated strategy (Flower-style): which sites take part in a round and what they get
 * (`configure_fit`), and how results, failures and metrics become new global weights or the old ones
 * kept (`aggregate_fit`, `fit_metrics_aggregation_fn`). Pure: persistence is the caller's job.
 */
export interface Strategy {
  readonly name: ExperimentSettings['strategy'];
  /**
   * True when {@link Strategy.aggregate} only needs the running {@link WeightedSum} (memory O(1) models);
   * false when it needs every update (robust rules read them back from disk block by block,
   * memory O(sites × block)).
   */
  readonly streaming: boolean;
  /** The round's participants among the `available` sites, sorted. */
  selectParticipants(available: readonly string[], options: SelectionOptions): string[];
  /** Extra hyper-parameters for this round's task (e.g. FedProx μ). */
  configureRound(round: number): Partial<HyperParameters>;
  aggregate(input: AggregateInput, state: StrategyState): AggregateResult;
  /** The round's metrics from its accepted results. */
  aggregateMetrics(accepted: readonly MetricsInput[]): Record<string, number>;
}

/**
 * Uniform sampling without replacement: max(minSites, ⌈fractionFit · n⌉) of the n available sites
 * (all of them when there are fewer), as Flower's FedAvg samples clients. Returned sorted.
 */
export function sampleParticipants(available: readonly string[], options: SelectionOptions): string[] {
  const wanted = Math.min(available.length, Math.max(options.minSites, Math.ceil(options.fractionFit * available.length)));
  const out = [...available];
  for (let i = out.length - 1; i > 0; i--) {
    const j = options.randomInt(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out.slice(0, wanted).sort();
}

/**
 * Sample-weighted mean of each metric the accepted sites reported (Flower's default weighting by
 * number of examples), plus `sites` and `samples`. Non-finite values and sites without samples are
 * left out of a metric's mean.
 */
export function weightedMetrics(accepted: readonly MetricsInput[]): Record<string, number> {
  const sums = new Map<string, { sum: number; weight: number }>();
  for (const r of accepted) {
    const w = r.sampleCount ?? 0;
    for (const [k, v] of Object.entries(r.metrics ?? {})) {
      if (!Number.isFinite(v) || w <= 0) continue;
      const s = sums.get(k) ?? { sum: 0, weight: 0 };
      s.sum += v * w;
      s.weight += w;
      sums.set(k, s);
    }
  }
  const out: Record<string, number> = {};
  for (const [k, s] of sums) out[k] = s.sum / s.weight;
  out.sites = accepted.length;
  out.samples = accepted.reduce((n, r) => n + (r.sampleCount ?? 0), 0);
  return out;
}

/** The participant selection and metric weighting every built-in strategy uses. */
export abstract class BaseStrategy implements Strategy {
  abstract readonly name: Strategy['name'];
  abstract readonly streaming: boolean;

  selectParticipants(available: readonly string[], options: SelectionOptions): string[] {
    return sampleParticipants(available, options);
  }

  configureRound(_round: number): Partial<HyperParameters> {
    return {};
  }

  abstract aggregate(input: AggregateInput, state: StrategyState): AggregateResult;

  aggregateMetrics(accepted: readonly MetricsInput[]): Record<string, number> {
    return weightedMetrics(accepted);
  }
}
