import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { mulberry32 } from '../random';
import { trainClassifier } from './classifier';
import type { LabelledVolume } from './data';
import { trainDenoiser } from './denoiser';
import { GradientWorkers } from './parallel';

function volumes(count: number, seed: number): LabelledVolume[] {
  const rng = mulberry32(seed);
  return Array.from({ length: count }, (_, i) => ({
    data: Float32Array.from({ length: 6 * 8 * 8 }, () => rng() + (i % 3) * 0.3),
    shape: [6, 8, 8] as [number, number, number],
    label: i % 3,
  }));
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
    scale = Math.max(scale, Math.abs(b[i] ?? 0));
  }
  return diff / scale;
}

describe('data-parallel training', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('gives the same weights with two threads as with one when the maths allows (no dropout, no BatchNorm)', async () => {
    const config = { inputShape: [6, 8, 8] as [number, number, number], filters: [3, 4], denseUnits: 5, dropout: 0, classes: 3 };
    const options = { config, initialWeights: null, data: volumes(8, 1), epochs: 2, batchSize: 4, learningRate: 1e-2, seed: 3 };
    const before = tf.memory().numTensors;
    const one = await trainClassifier(options);
    const two = await trainClassifier({ ...options, workers: 2 });
    expect(tf.memory().numTensors).toBe(before);
    expect(two.sampleCount).toBe(8);
    expect(maxRelDiff(two.weights.weights, one.weights.weights)).toBeLessThan(1e-4);
    expect(two.metrics.loss).toBeCloseTo(one.metrics.loss ?? NaN, 4);
  });

  it('closes its workers by letting them exit on their own, not by terminating them', async () => {
    const pool = await GradientWorkers.start(2, { backend: 'wasm', kind: 'bcdunet', config: { size: 16, base: 2 } });
    expect(pool.size).toBe(2);
    // Exit code 0: the thread ended by itself after disposing of its network (terminate() gives 1).
    expect(await pool.close()).toEqual([0, 0]);
    // Closing workers that have already exited (as after a crash) answers at once, not after the grace time.
    const t0 = Date.now();
    expect(await pool.close(60_000)).toEqual([0, 0]);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('trains the batch-normalised, leaky 3-D CNN (its own BatchNorm layer) on two threads reproducibly', async () => {
    const config = { inputShape: [6, 8, 8] as [number, number, number], filters: [3, 4], denseUnits: 5, dropout: 0.3, classes: 3, batchNorm: true, leakyRelu: 0.1 };
    const options = { config, initialWeights: null, data: volumes(8, 1), epochs: 2, batchSize: 4, learningRate: 1e-2, seed: 3, workers: 2 };
    const a = await trainClassifier(options);
    const b = await trainClassifier(options);
    expect(Number.isFinite(a.metrics.loss)).toBe(true);
    expect(b.weights.weights).toEqual(a.weights.weights);
    // The main thread's moving statistics moved off their initial zeros.
    const index = a.weights.manifest.tensors.findIndex((t) => t.name === 'conv1_1_bn/moving_mean');
    const offset = a.weights.manifest.tensors.slice(0, index).reduce((n, t) => n + t.shape.reduce((x, y) => x * y, 1), 0);
    expect(Array.from(a.weights.weights.subarray(offset, offset + 3)).some((v) => Math.abs(v) > 1e-3)).toBe(true);
  });

  it('trains BCDU-Net (BatchNorm, dropout) on two threads reproducibly for the same seed', async () => {
    const rng = mulberry32(2);
    const data = { data: Float32Array.from({ length: 6 * 16 * 16 }, () => rng()), count: 6, height: 16, width: 16 };
    const options = { config: { size: 16, base: 2 }, initialWeights: null, data, epochs: 1, batchSize: 3, learningRate: 1e-3, seed: 4, workers: 2 };
    const a = await trainDenoiser(options);
    const b = await trainDenoiser(options);
    expect(Number.isFinite(a.metrics.loss)).toBe(true);
    expect(b.weights.weights).toEqual(a.weights.weights);
  });
});
