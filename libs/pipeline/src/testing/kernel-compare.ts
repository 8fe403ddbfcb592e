import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '../backend/backend';
import { mulberry32 } from '../random';

/*
 * Test support (not part of the package's main exports): runs one kernel on a backend with seeded
 * inputs, and compares two backends' results. The kernel specs of the wasm and native backends use it
 * with the pure-JavaScript cpu backend as the reference.
 */

/** A seeded uniform [-1, 1) array (mulberry32). */
export function seededUniform(size: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = next() * 2 - 1;
  return out;
}

/** One seeded input of a kernel. */
export type KernelInput = { shape: number[]; seed: number };

/** The kernel's outputs, concatenated, and their shapes (each followed by -1); leaks no tensor. */
export async function runKernelOn(backend: BackendName, kernel: string, inputs: Record<string, KernelInput>, attrs: object): Promise<{ values: Float32Array; shape: number[]; leaked: number }> {
  await initBackend(backend);
  const before = tf.memory().numTensors;
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, { shape, seed }] of Object.entries(inputs)) {
    tensors[name] = tf.tensor(seededUniform(shape.reduce((a, b) => a * b, 1), seed), shape);
  }
  // Inputs named 0, 1, ... go in as a list, as tf.concat passes its tensors.
  const listed = Object.keys(tensors).every((k, i) => k === String(i));
  const args = (listed ? Object.values(tensors) : tensors) as unknown as tf.NamedTensorMap;
  const result = tf.engine().runKernel(kernel, args, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
  const outs = Array.isArray(result) ? result : [result];
  const parts = await Promise.all(outs.map((o) => o.data() as Promise<Float32Array>));
  const values = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((offset, p) => (values.set(p, offset), offset + p.length), 0);
  const shape = outs.flatMap((o) => [...o.shape, -1]);
  tf.dispose(outs);
  for (const t of Object.values(tensors)) t.dispose();
  return { values, shape, leaked: tf.memory().numTensors - before };
}

/** Max |a - b| relative to the largest |b|. */
export function relativeError(a: Float32Array, b: Float32Array): number {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < b.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs((a[i] ?? NaN) - (b[i] ?? NaN)));
    maxRef = Math.max(maxRef, Math.abs(b[i] ?? 0));
  }
  return maxDiff / maxRef;
}

/** Output size of a convolution or pooling window along one axis (TensorFlow's rule). */
export function convOutSize(n: number, k: number, s: number, pad: 'same' | 'valid', dilation = 1): number {
  const effective = (k - 1) * dilation + 1;
  return pad === 'same' ? Math.ceil(n / s) : Math.ceil((n - effective + 1) / s);
}

/** Convolution problems both kernel specs check: channels, strides and paddings of every kind the networks use. */
export const CASES_2D: { x: number[]; f: number[]; s: [number, number]; pad: 'same' | 'valid' }[] = [
  { x: [2, 9, 11, 3], f: [3, 3, 3, 4], s: [1, 1], pad: 'same' },
  { x: [1, 10, 8, 20], f: [3, 3, 20, 5], s: [1, 1], pad: 'valid' },
  { x: [3, 8, 8, 2], f: [2, 2, 2, 3], s: [2, 2], pad: 'valid' },
  { x: [2, 9, 7, 4], f: [3, 2, 4, 6], s: [2, 3], pad: 'same' },
  { x: [1, 6, 6, 1], f: [1, 1, 1, 2], s: [1, 1], pad: 'same' },
];

export const CASES_3D: { x: number[]; f: number[]; s: [number, number, number]; pad: 'same' | 'valid' }[] = [
  { x: [1, 6, 7, 8, 2], f: [3, 3, 3, 2, 3], s: [1, 1, 1], pad: 'same' },
  { x: [2, 7, 6, 5, 1], f: [3, 3, 3, 1, 4], s: [1, 1, 1], pad: 'valid' },
  { x: [1, 8, 8, 6, 3], f: [2, 3, 2, 3, 2], s: [2, 2, 1], pad: 'same' },
  { x: [2, 5, 6, 7, 2], f: [3, 2, 3, 2, 2], s: [2, 1, 2], pad: 'valid' },
];
