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

/**
 * A federated strategy (Flower-style): configure what sites get each round; aggregate results and
 * failures into new global weights or keep the old ones. Pure: persistence is the caller's job.
 */
export interface Strategy {
  readonly name: ExperimentSettings['strategy'];
  /**
   * True when {@link Strategy.aggregate} only needs the running {@link WeightedSum} (memory O(1) models);
   * false when it needs every update (robust rules read them back from disk block by block,
   * memory O(sites × block)).
   */
  readonly streaming: boolean;
  /** Extra hyper-parameters for this round's task (e.g. FedProx μ). */
  configureRound(round: number): Partial<HyperParameters>;
  aggregate(input: AggregateInput, state: StrategyState): AggregateResult;
}
