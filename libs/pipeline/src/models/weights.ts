import { readFile, rename, writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { decodeModelBlob, encodeModelBlob, manifestSize, sha256Hex, type ModelBlob } from '@fedct/protocol';
import { ModelError } from './models.errors';

/** Name of a weight without the `_1`, `_2` suffixes tfjs adds when a layer name repeats in a process. */
function weightName(w: tfl.LayerVariable): string {
  return w.originalName;
}

/**
 * Copies every weight of `model` (trainable and not, e.g. BatchNorm statistics), in `model.weights`
 * order, into one flat Float32Array with a manifest of names and shapes.
 * @param kind the model name stored in the manifest (`bcdunet`, `cnn3d`).
 * @param config what is needed to rebuild the model (its size configuration).
 */
export function getModelBlob(model: tfl.LayersModel, kind: string, config: object): ModelBlob {
  const weights = model.weights;
  const tensors = weights.map((w) => ({ name: weightName(w), shape: [...w.shape] as number[] }));
  const total = tensors.reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1), 0);
  const flat = new Float32Array(total);
  let offset = 0;
  for (const w of weights) {
    const values = w.read().dataSync();
    flat.set(values, offset);
    offset += values.length;
  }
  return { manifest: { model: kind, config: { ...config }, tensors }, weights: flat };
}

/**
 * Loads a blob made by {@link getModelBlob} into `model`.
 * @throws ModelError when the blob is for another model kind or its tensor names or shapes differ.
 */
export function setModelWeights(model: tfl.LayersModel, blob: ModelBlob, kind?: string): void {
  const { manifest, weights } = blob;
  if (kind !== undefined && manifest.model !== kind) {
    throw new ModelError(`weights are for model "${manifest.model}", expected "${kind}"`);
  }
  const vars = model.weights;
  if (manifest.tensors.length !== vars.length) {
    throw new ModelError(`weights hold ${manifest.tensors.length} tensors, the model has ${vars.length}`);
  }
  if (manifestSize(manifest) !== weights.length) {
    throw new ModelError(`weights hold ${weights.length} floats, the manifest describes ${manifestSize(manifest)}`);
  }
  vars.forEach((v, i) => {
    const spec = manifest.tensors[i];
    if (!spec || spec.name !== weightName(v) || spec.shape.join(',') !== v.shape.join(',')) {
      throw new ModelError(
        `weight ${i} is ${spec?.name ?? '?'} [${spec?.shape.join(', ') ?? ''}], the model expects ${weightName(v)} [${v.shape.join(', ')}]`);
    }
  });
  tf.tidy(() => {
    let offset = 0;
    const values = vars.map((v) => {
      const size = v.shape.reduce((a: number, b) => a * (b ?? 1), 1);
      const t = tf.tensor(weights.subarray(offset, offset + size), v.shape as number[]);
      offset += size;
      return t;
    });
    model.setWeights(values);
  });
}

/** The sha256 (hex) of a blob's encoding: a model's identity everywhere. */
export function modelBlobSha256(blob: ModelBlob): string {
  return sha256Hex(encodeModelBlob(blob));
}

/** Writes a blob to `file` atomically (temp file + rename) and returns its sha256. */
export async function saveModelBlob(file: string, blob: ModelBlob): Promise<string> {
  const bytes = encodeModelBlob(blob);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, file);
  return sha256Hex(bytes);
}

/**
 * Reads a blob from `file`, returning it with its sha256.
 * @param expectedSha256 when given, a different hash throws ModelError.
 */
export async function loadModelBlob(file: string, expectedSha256?: string): Promise<{ blob: ModelBlob; sha256: string }> {
  const bytes = new Uint8Array(await readFile(file));
  const sha256 = sha256Hex(bytes);
  if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
    throw new ModelError(`model file ${file} has sha256 ${sha256}, expected ${expectedSha256}`);
  }
  try {
    return { blob: decodeModelBlob(bytes), sha256 };
  } catch (error) {
    throw new ModelError(`model file ${file} is not a model blob: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
