import { BaseStrategy, type AggregateInput, type AggregateResult } from './strategy';

/** Coordinates per block when robust rules read updates back (memory: sites × block × 4 bytes). */
export const ROBUST_BLOCK = 16_384;

/** β-trimmed mean of `values` (sorted in place): drop ⌊β·n⌋ from each end, average the rest. */
export function trimmedMean(values: Float64Array, beta: number): number {
  values.sort();
  const k = Math.floor(beta * values.length);
  let sum = 0;
  for (let i = k; i < values.length - k; i++) sum += values[i]!;
  return sum / (values.length - 2 * k);
}

/** Median of `values` (sorted in place); the mean of the middle two for an even count. */
export function median(values: Float64Array): number {
  values.sort();
  const n = values.length;
  const mid = n >> 1;
  return n % 2 === 1 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
}

/**
 * Coordinate-wise trimmed mean and median (Yin et al. 2018): robust to a minority of arbitrary
 * updates, unweighted by design (a site cannot buy influence with a large sample count). These need
 * every update, not a running sum: they read the spooled updates back block by block, so memory is
 * O(sites × {@link ROBUST_BLOCK}) rather than O(sites × model).
 */
export class RobustStrategy extends BaseStrategy {
  readonly streaming = false;

  constructor(
    readonly name: 'trimmed-mean' | 'median',
    private readonly trimFraction = 0.1,
  ) {
    super();
  }

  aggregate(input: AggregateInput): AggregateResult {
    if (!input.readBlock || input.accepted.length === 0) return { kind: 'keep', reason: 'no accepted updates' };
    const sites = input.accepted.length;
    const out = new Float32Array(input.length);
    const column = new Float64Array(sites);
    for (let offset = 0; offset < input.length; offset += ROBUST_BLOCK) {
      const length = Math.min(ROBUST_BLOCK, input.length - offset);
      const blocks = input.readBlock(offset, length);
      for (let j = 0; j < length; j++) {
        for (let s = 0; s < sites; s++) column[s] = blocks[s]![j]!;
        out[offset + j] = this.name === 'median' ? median(column) : trimmedMean(column, this.trimFraction);
      }
    }
    return { kind: 'model', weights: out };
  }
}
