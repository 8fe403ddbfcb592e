import { decodeModelBlob, type ErrorCode, type ModelBlob, type TensorSpec } from '@fedct/protocol';

/** Why an update's weights are refused, or null when they pass. */
export interface WeightsVerdict {
  code: ErrorCode;
  message: string;
}

/** True when both lists name the same tensors with the same shapes, in the same order. */
export function sameTensors(a: readonly TensorSpec[], b: readonly TensorSpec[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name || x.shape.length !== y.shape.length || x.shape.some((d, j) => d !== y.shape[j])) return false;
  }
  return true;
}

/** Index of the first NaN or ±Infinity, or -1. */
export function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0) return i; // NaN - NaN and Inf - Inf are NaN
  }
  return -1;
}

/** L2 norm of `a − b` (float64 accumulation). */
export function l2Distance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    sum += d * d;
  }
  return Math.sqrt(sum);
}

/**
 * Decodes and checks an update's payload (an encoded model blob with the site's new weights; the
 * returned weights may be a view into `payload`):
 * shapes must equal `expected` (the base model's tensors), every value finite, and
 * ‖weights − base‖₂ ≤ `normBound` when both are given.
 */
export function checkUpdatePayload(
  payload: Uint8Array,
  expected: readonly TensorSpec[] | null,
  base: Float32Array | null,
  normBound: number | null,
): { ok: true; blob: ModelBlob; norm: number | null } | { ok: false; verdict: WeightsVerdict } {
  let blob: ModelBlob;
  try {
    blob = decodeModelBlob(payload, { view: true });
  } catch (cause) {
    return { ok: false, verdict: { code: 'rejected_shape', message: `payload is not a model blob: ${(cause as Error).message}` } };
  }
  if (expected && !sameTensors(blob.manifest.tensors, expected)) {
    return { ok: false, verdict: { code: 'rejected_shape', message: 'update tensors or shapes differ from the base model' } };
  }
  const w = blob.weights;
  if (base && base.length !== w.length) return { ok: false, verdict: { code: 'rejected_shape', message: `update has ${w.length} values, the base model ${base.length}` } };
  // One pass: finiteness and the distance to the base together.
  let sum = 0;
  let nonFinite = false;
  if (base) {
    for (let i = 0; i < w.length; i++) {
      const d = w[i]! - base[i]!;
      sum += d * d;
    }
    nonFinite = !Number.isFinite(sum);
  } else {
    for (let i = 0; i < w.length; i++) sum += w[i]! * 0;
    nonFinite = Number.isNaN(sum);
  }
  if (nonFinite) {
    const bad = firstNonFinite(w);
    if (bad >= 0) return { ok: false, verdict: { code: 'rejected_non_finite', message: `update has a non-finite value at index ${bad}` } };
  }
  let norm: number | null = null;
  if (base) {
    norm = Math.sqrt(sum);
    if (!Number.isFinite(norm)) return { ok: false, verdict: { code: 'rejected_norm', message: 'update norm overflows' } };
    if (normBound !== null && norm > normBound) {
      return { ok: false, verdict: { code: 'rejected_norm', message: `update norm ${norm.toPrecision(4)} exceeds the bound ${normBound}` } };
    }
  }
  return { ok: true, blob, norm };
}
