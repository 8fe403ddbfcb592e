import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ProtocolError } from './errors';

/** One weight tensor inside a flat weight vector, in order. */
export const tensorSpecSchema = z.object({
  name: z.string().min(1),
  shape: z.array(z.number().int().nonnegative()),
});
export type TensorSpec = z.infer<typeof tensorSpecSchema>;

/**
 * What the bytes of a model blob describe. `model` names the network (`bcdunet`, `cnn3d`, or a
 * bundle of both) and `config` holds whatever the pipeline needs to rebuild it (sizes, widths).
 */
export const modelManifestSchema = z.object({
  model: z.string().min(1),
  config: z.record(z.string(), z.unknown()).default({}),
  tensors: z.array(tensorSpecSchema),
});
export type ModelManifest = z.infer<typeof modelManifestSchema>;

export interface ModelBlob {
  manifest: ModelManifest;
  /** All tensors back to back, in manifest order. */
  weights: Float32Array;
}

const MAGIC = 0x4d544346; // 'FCTM' little endian
const FORMAT_VERSION = 1;

/** Number of floats the manifest's tensors hold together. */
export function manifestSize(manifest: ModelManifest): number {
  let total = 0;
  for (const t of manifest.tensors) total += t.shape.reduce((a, b) => a * b, 1);
  return total;
}

/**
 * Serialises a model as `FCTM | u32 version | u32 headerBytes | header JSON (padded to 4) | float32 LE data`.
 * The sha256 of these bytes is the model's identity everywhere (registry, tasks, envelopes).
 */
export function encodeModelBlob(blob: ModelBlob): Uint8Array {
  const expected = manifestSize(blob.manifest);
  if (expected !== blob.weights.length) {
    throw new ProtocolError(`model manifest describes ${expected} floats but ${blob.weights.length} were given`, 'bad_model');
  }
  const header = Buffer.from(JSON.stringify(blob.manifest), 'utf8');
  const padded = Math.ceil(header.length / 4) * 4;
  const out = new Uint8Array(12 + padded + blob.weights.length * 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, FORMAT_VERSION, true);
  view.setUint32(8, padded, true);
  out.set(header, 12);
  out.fill(0x20, 12 + header.length, 12 + padded);
  const dataOffset = 12 + padded;
  if (isLittleEndian()) {
    out.set(new Uint8Array(blob.weights.buffer, blob.weights.byteOffset, blob.weights.byteLength), dataOffset);
  } else {
    for (let i = 0; i < blob.weights.length; i++) view.setFloat32(dataOffset + i * 4, blob.weights[i] ?? 0, true);
  }
  return out;
}

/**
 * Parses a blob written by {@link encodeModelBlob}; throws {@link ProtocolError} on anything malformed.
 * With `view: true`, on a little-endian machine where the float data is 4-byte aligned in `bytes`
 * (the header is padded to 4 bytes), `weights` is a view into `bytes` instead of a copy.
 */
export function decodeModelBlob(bytes: Uint8Array, options: { view?: boolean } = {}): ModelBlob {
  if (bytes.length < 12) throw new ProtocolError('model blob is truncated', 'bad_model');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw new ProtocolError('not a fedct model blob (bad magic)', 'bad_model');
  const version = view.getUint32(4, true);
  if (version !== FORMAT_VERSION) throw new ProtocolError(`unsupported model blob version ${version}`, 'bad_model');
  const headerBytes = view.getUint32(8, true);
  if (12 + headerBytes > bytes.length) throw new ProtocolError('model blob header is truncated', 'bad_model');
  let manifest: ModelManifest;
  try {
    manifest = modelManifestSchema.parse(JSON.parse(Buffer.from(bytes.subarray(12, 12 + headerBytes)).toString('utf8')));
  } catch (cause) {
    throw new ProtocolError('model blob header is not a valid manifest', 'bad_model', { cause });
  }
  const count = manifestSize(manifest);
  const dataOffset = 12 + headerBytes;
  if (bytes.length !== dataOffset + count * 4) {
    throw new ProtocolError(`model blob holds ${(bytes.length - dataOffset) / 4} floats, manifest says ${count}`, 'bad_model');
  }
  if (options.view && isLittleEndian() && (bytes.byteOffset + dataOffset) % 4 === 0) {
    return { manifest, weights: new Float32Array(bytes.buffer, bytes.byteOffset + dataOffset, count) };
  }
  const weights = new Float32Array(count);
  if (isLittleEndian()) {
    new Uint8Array(weights.buffer).set(bytes.subarray(dataOffset));
  } else {
    for (let i = 0; i < count; i++) weights[i] = view.getFloat32(dataOffset + i * 4, true);
  }
  return { manifest, weights };
}

/** Lower-case hex SHA-256 of `bytes` (a model blob's identity, chunk and file hashes): the one definition. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function isLittleEndian(): boolean {
  return new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
}
