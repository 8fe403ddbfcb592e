import { decodeModelBlob, manifestSize, modelManifestSchema, type ErrorCode, type ModelBlob, type ModelManifest, type TensorSpec } from '@fedct/protocol';

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

const BLOB_MAGIC = 0x4d544346; // 'FCTM' little endian, @fedct/protocol model blob format 1
const BLOB_VERSION = 1;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * {@link decodeModelBlob} without copying the weights: on a little-endian machine, when the float data
 * is 4-byte aligned in `bytes` (the format pads the header to 4 bytes), `weights` is a view into
 * `bytes`. Anything else (a malformed blob included) goes through {@link decodeModelBlob}, so errors are
 * exactly its errors.
 */
export function decodeModelBlobView(bytes: Uint8Array): ModelBlob {
  if (!LITTLE_ENDIAN || bytes.length < 12 || bytes.byteOffset % 4 !== 0) return decodeModelBlob(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerBytes = view.getUint32(8, true);
  if (view.getUint32(0, true) !== BLOB_MAGIC || view.getUint32(4, true) !== BLOB_VERSION || headerBytes % 4 !== 0 || 12 + headerBytes > bytes.length) return decodeModelBlob(bytes);
  let manifest: ModelManifest;
  try {
    manifest = modelManifestSchema.parse(JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 12, headerBytes).toString('utf8')));
  } catch {
    return decodeModelBlob(bytes);
  }
  const count = manifestSize(manifest);
  if (bytes.length !== 12 + headerBytes + count * 4) return decodeModelBlob(bytes);
  return { manifest, weights: new Float32Array(bytes.buffer, bytes.byteOffset + 12 + headerBytes, count) };
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
    blob = decodeModelBlobView(payload);
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
