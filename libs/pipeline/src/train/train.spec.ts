import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { resizeDepth } from '../ct';
import { createBcduNet } from '../models/bcdunet';
import { mulberry32 } from '../random';
import { getModelBlob, setModelWeights } from '../models/weights';
import { calibrateClassifier, epochOrder, stack, trainClassifier, evaluateClassifier } from './classifier';
import { modelFromBlob } from './model-from-blob';
import { evaluateDenoiser, extractInfection, trainDenoiser } from './denoiser';
import type { LabelledVolume, SliceSet } from './data';
import { TrainError } from './train.errors';

const BCDU = { size: 16, base: 2 };
const CNN = { inputShape: [6, 8, 8] as [number, number, number], filters: [2, 2], denseUnits: 4, dropout: 0.3, classes: 3 };

function slices(count: number, size: number, seed: number): SliceSet {
  const rng = mulberry32(seed);
  return { data: Float32Array.from({ length: count * size * size }, () => rng()), count, height: size, width: size };
}

function volumes(count: number, seed: number): LabelledVolume[] {
  const rng = mulberry32(seed);
  return Array.from({ length: count }, (_, i) => ({
    data: Float32Array.from({ length: 6 * 8 * 8 }, () => rng() + (i % 3) * 0.5),
    shape: [6, 8, 8] as [number, number, number],
    label: i % 3,
  }));
}

function distance(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += ((a[i] ?? 0) - (b[i] ?? 0)) ** 2;
  return Math.sqrt(s);
}

describe('training', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('trains the denoiser reproducibly: same seed, same weights; another seed, other weights; no leaked tensors', async () => {
    const data = slices(6, 32, 1);
    const options = { config: BCDU, initialWeights: null, data, epochs: 1, batchSize: 3, learningRate: 1e-3, seed: 5 };
    const before = tf.memory().numTensors;
    const a = await trainDenoiser(options);
    expect(tf.memory().numTensors).toBe(before);
    const b = await trainDenoiser(options);
    const c = await trainDenoiser({ ...options, seed: 6 });
    expect(a.sampleCount).toBe(6);
    expect(Number.isFinite(a.metrics.loss)).toBe(true);
    expect(a.weights.manifest.model).toBe('bcdunet');
    expect(b.weights.weights).toEqual(a.weights.weights);
    expect(c.weights.weights).not.toEqual(a.weights.weights);
    const start = createBcduNet(BCDU, { seed: 0 });
    expect(distance(a.weights.weights, getModelBlob(start, 'bcdunet', BCDU).weights)).toBeGreaterThan(0);
    start.dispose();
  });

  it('reports progress after every step and rejects bad options', async () => {
    const seen: string[] = [];
    await trainDenoiser({
      config: BCDU, initialWeights: null, data: slices(4, 16, 2), epochs: 2, batchSize: 2, learningRate: 1e-3, seed: 1,
      onProgress: (p) => seen.push(`${p.epoch}/${p.epochs}:${p.step}/${p.steps}`),
    });
    expect(seen).toEqual(['1/2:1/2', '1/2:2/2', '2/2:1/2', '2/2:2/2']);
    await expect(trainDenoiser({ config: BCDU, initialWeights: null, data: slices(0, 16, 2), epochs: 1, batchSize: 2, learningRate: 1e-3, seed: 1 }))
      .rejects.toThrow(TrainError);
    await expect(trainDenoiser({ config: BCDU, initialWeights: null, data: slices(2, 16, 2), epochs: 0, batchSize: 2, learningRate: 1e-3, seed: 1 }))
      .rejects.toThrow(/epochs/);
  });

  it('keeps FedProx updates closer to the starting weights than plain training', async () => {
    const data = volumes(6, 3);
    const base = { config: CNN, initialWeights: null, data, epochs: 3, batchSize: 3, learningRate: 0.05, seed: 2 };
    const start = (await trainClassifier({ ...base, epochs: 1, learningRate: 1e-9 })).weights;
    const plain = await trainClassifier({ ...base, initialWeights: start });
    const prox = await trainClassifier({ ...base, initialWeights: start, proximalMu: 100 });
    expect(distance(prox.weights.weights, start.weights)).toBeLessThan(0.8 * distance(plain.weights.weights, start.weights));
  });

  it('trains the classifier reproducibly, evaluates it and leaks no tensors', async () => {
    const data = volumes(6, 4);
    const options = { config: CNN, initialWeights: null, data, epochs: 2, batchSize: 2, learningRate: 1e-2, seed: 9 };
    const before = tf.memory().numTensors;
    const a = await trainClassifier(options);
    const b = await trainClassifier(options);
    expect(b.weights.weights).toEqual(a.weights.weights);
    const evaluation = await evaluateClassifier({ weights: a.weights, data });
    expect(tf.memory().numTensors).toBe(before);
    expect(evaluation.probabilities).toHaveLength(6);
    evaluation.probabilities.forEach((p) => expect(p.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5));
    expect(evaluation.flat.count).toBe(6);
    expect(evaluation.metrics.confusion.flat().reduce((s, v) => s + v, 0)).toBe(6);
    await expect(trainClassifier({ ...options, data: [{ ...data[0]!, shape: [6, 8, 4] }] })).rejects.toThrow(/6×8×4/);
  });

  it('stacks two-channel volumes channels last and mirrors each voxel with its channels', () => {
    // Hand-written: one slice of 1 × 3 pixels, channels (a, b) per pixel.
    const v: LabelledVolume = { data: Float32Array.from([1, 10, 2, 20, 3, 30]), shape: [1, 1, 3], label: 0 };
    const plain = stack([v], [0], [1, 1, 3], 2);
    const mirrored = stack([v, v], [0, 1], [1, 1, 3], 2, [true, false]);
    expect(plain.shape).toEqual([1, 1, 1, 3, 2]);
    expect(Array.from(plain.dataSync())).toEqual([1, 10, 2, 20, 3, 30]);
    expect(Array.from(mirrored.dataSync())).toEqual([3, 30, 2, 20, 1, 10, 1, 10, 2, 20, 3, 30]);
    tf.dispose([plain, mirrored]);
  });

  it('trains and evaluates a two-channel classifier, and rejects one-channel volumes for it', async () => {
    const config = { ...CNN, inputChannels: 2 };
    const one = volumes(6, 4);
    const data = one.map((v) => ({ ...v, data: Float32Array.from({ length: v.data.length * 2 }, (_, i) => (i % 2 === 0 ? v.data[i >> 1]! : 1 - v.data[i >> 1]!)) }));
    const before = tf.memory().numTensors;
    const trained = await trainClassifier({ config, initialWeights: null, data, epochs: 1, batchSize: 2, learningRate: 1e-2, seed: 3, flipAugment: true });
    const evaluation = await evaluateClassifier({ weights: trained.weights, data });
    expect(tf.memory().numTensors).toBe(before);
    // Independent: the same model's prediction on a hand-built [n, 6, 8, 8, 2] tensor.
    const model = modelFromBlob(trained.weights);
    expect(model.inputs[0]!.shape).toEqual([null, 6, 8, 8, 2]);
    const x = tf.tensor5d(Float32Array.from(data.flatMap((v) => Array.from(v.data))), [6, 6, 8, 8, 2]);
    const want = tf.tidy(() => (model.predict(x) as tf.Tensor).arraySync() as number[][]);
    evaluation.probabilities.forEach((row, i) => row.forEach((p, k) => expect(p).toBeCloseTo(want[i]![k]!, 5)));
    x.dispose();
    model.dispose();
    await expect(trainClassifier({ config, initialWeights: null, data: one, epochs: 1, batchSize: 2, learningRate: 1e-2, seed: 3 })).rejects.toThrow(/2 channels/);
  });

  it('keeps a batch-normalised classifier\'s moving statistics close to its training data\'s', async () => {
    // Inference normalises with the moving statistics. With Keras' momentum (0.99) they still held
    // half their initial values after a few dozen steps, and a demo classifier put every study in one class.
    const data = volumes(24, 5);
    const config = { ...CNN, batchNorm: true, leakyRelu: 0.1 };
    const before = tf.memory().numTensors;
    const trained = await trainClassifier({ config, initialWeights: null, data, epochs: 12, batchSize: 4, learningRate: 1e-3, seed: 2 });
    expect(tf.memory().numTensors).toBe(before);
    const model = modelFromBlob(trained.weights);
    // Independent: the first convolution's outputs over all training volumes, per channel.
    const probe = tfl.model({ inputs: model.inputs, outputs: model.getLayer('conv1_1').output as tfl.SymbolicTensor });
    const x = tf.tensor5d(Float32Array.from(data.flatMap((v) => Array.from(v.data))), [data.length, 6, 8, 8, 1]);
    const z = tf.tidy(() => (probe.predict(x) as tf.Tensor).reshape([-1, 2]));
    const { mean, variance } = tf.moments(z, 0);
    const [wantMean, wantVar] = [mean.dataSync(), variance.dataSync()];
    const [movingMean, movingVar] = ['conv1_1_bn/moving_mean', 'conv1_1_bn/moving_variance'].map((name) => model.weights.find((w) => w.originalName === name)!.read().dataSync());
    for (let c = 0; c < 2; c++) {
      expect(Math.abs(movingMean![c]! - wantMean[c]!)).toBeLessThan(0.1 * Math.sqrt(wantVar[c]!));
      expect(movingVar![c]! / wantVar[c]!).toBeGreaterThan(0.7); // batch variances miss the spread of batch means
      expect(movingVar![c]! / wantVar[c]!).toBeLessThan(1.3);
    }
    tf.dispose([x, z, mean, variance]);
    model.dispose();
  });

  it('recalibrates the BatchNorm statistics to the training data\'s at the final weights when asked', async () => {
    const data = volumes(6, 8);
    const config = { ...CNN, batchNorm: true, leakyRelu: 0.1 };
    const options = { config, initialWeights: null, data, epochs: 3, batchSize: 6, learningRate: 1e-2, seed: 4 };
    const before = tf.memory().numTensors;
    const [plain, recalibrated] = [await trainClassifier(options), await trainClassifier({ ...options, recalibrate: true })];
    expect(tf.memory().numTensors).toBe(before);
    const statistics = (blob: typeof plain.weights): { model: tfl.LayersModel; mean: Float32Array; variance: Float32Array } => {
      const model = modelFromBlob(blob);
      const [mean, variance] = ['conv1_1_bn/moving_mean', 'conv1_1_bn/moving_variance'].map((name) => model.weights.find((w) => w.originalName === name)!.read().dataSync() as Float32Array);
      return { model, mean: mean!, variance: variance! };
    };
    const a = statistics(plain.weights);
    const b = statistics(recalibrated.weights);
    // The trained weights are the same; only the inference statistics differ.
    const trainable = (m: tfl.LayersModel): number[] => m.trainableWeights.flatMap((w) => Array.from(w.read().dataSync()));
    expect(trainable(b.model)).toEqual(trainable(a.model));
    // Independent: the first convolution's outputs over the whole batch, in inference mode (nothing before it normalises).
    const probe = tfl.model({ inputs: b.model.inputs, outputs: b.model.getLayer('conv1_1').output as tfl.SymbolicTensor });
    const x = tf.tensor5d(Float32Array.from(data.flatMap((v) => Array.from(v.data))), [6, 6, 8, 8, 1]);
    const z = tf.tidy(() => (probe.predict(x) as tf.Tensor).reshape([-1, 2]));
    const { mean, variance } = tf.moments(z, 0);
    const [wantMean, wantVar] = [mean.dataSync(), variance.dataSync()];
    for (let c = 0; c < 2; c++) {
      expect(b.mean[c]).toBeCloseTo(wantMean[c]!, 4);
      expect(b.variance[c]! / wantVar[c]!).toBeCloseTo(1, 4);
      // Three steps of momentum 0.9 from (0, 1) stay far from them.
      expect(Math.abs(a.variance[c]! / wantVar[c]! - 1)).toBeGreaterThan(0.05);
    }
    tf.dispose([x, z, mean, variance]);
    a.model.dispose();
    b.model.dispose();
  });

  it('calibrates a BatchNorm classifier on unlabeled volumes: inference then normalises exactly as a training pass over them', async () => {
    const config = { ...CNN, dropout: 0, batchNorm: true, leakyRelu: 0.1 };
    // A trained model, so the learned scales and shifts are not their initial ones.
    const trained = (await trainClassifier({ config, initialWeights: null, data: volumes(8, 12), epochs: 2, batchSize: 4, learningRate: 1e-2, seed: 5 })).weights;
    // Another "scanner": the calibration set is shifted and scaled.
    const site = volumes(5, 13).map((v) => ({ data: v.data.map((x) => 0.5 + 2 * x), shape: v.shape }));
    const before = tf.memory().numTensors;
    const calibrated = await calibrateClassifier({ weights: trained, volumes: site });
    expect(tf.memory().numTensors).toBe(before);
    const a = modelFromBlob(trained);
    const b = modelFromBlob(calibrated);
    const trainable = (m: tfl.LayersModel): number[] => m.trainableWeights.flatMap((w) => Array.from(w.read().dataSync()));
    expect(trainable(b)).toEqual(trainable(a));
    // Independent: the uncalibrated network run in training mode over the same five volumes in one batch
    // normalises every layer with that batch's own statistics; the calibrated one must do the same in inference mode.
    const x = tf.tensor5d(Float32Array.from(site.flatMap((v) => Array.from(v.data))), [5, 6, 8, 8, 1]);
    const want = tf.tidy(() => (a.apply(x, { training: true }) as tf.Tensor).arraySync() as number[][]);
    const got = tf.tidy(() => (b.predict(x) as tf.Tensor).arraySync() as number[][]);
    got.forEach((row, i) => row.forEach((p, k) => expect(p).toBeCloseTo(want[i]![k]!, 4)));
    // ... and it differs from the trained model's own statistics on these volumes.
    const own = tf.tidy(() => (modelFromBlob(trained).predict(x) as tf.Tensor).arraySync() as number[][]);
    expect(Math.max(...own.flatMap((row, i) => row.map((p, k) => Math.abs(p - want[i]![k]!))))).toBeGreaterThan(1e-3);
    tf.dispose(x);
    a.dispose();
    b.dispose();
    // Without BatchNorm there is nothing to calibrate; bad input is refused.
    const plain = (await trainClassifier({ config: CNN, initialWeights: null, data: volumes(3, 14), epochs: 1, batchSize: 3, learningRate: 1e-2, seed: 1 })).weights;
    expect(await calibrateClassifier({ weights: plain, volumes: site })).toBe(plain);
    await expect(calibrateClassifier({ weights: trained, volumes: [] })).rejects.toThrow(TrainError);
    await expect(calibrateClassifier({ weights: trained, volumes: [{ data: new Float32Array(4 * 8 * 8), shape: [4, 8, 8] }] })).rejects.toThrow(/6×8×8/);
  });

  it('extracts the infection volume as x − BCDUNet(x) per slice, resized to the requested depth', async () => {
    const model = createBcduNet(BCDU, { seed: 3 });
    const blob = getModelBlob(model, 'bcdunet', BCDU);
    const volume = slices(5, 16, 7);
    const before = tf.memory().numTensors;
    const out = await extractInfection({ denoiser: blob, volume: volume.data, shape: [5, 16, 16], depth: 3, batchSize: 2 });
    expect(tf.memory().numTensors).toBe(before);
    expect(out.shape).toEqual([3, 16, 16]);
    const expected = tf.tidy(() => {
      const x = tf.tensor4d(volume.data, [5, 16, 16, 1]);
      return tf.sub(x, model.predict(x) as tf.Tensor).dataSync() as Float32Array;
    });
    const reference = resizeDepth({ data: expected, shape: [5, 16, 16] }, 3);
    expect(distance(out.data, reference) / Math.sqrt(reference.length)).toBeLessThan(1e-5);
    // A smaller output size averages the residual down in 2 × 2 blocks.
    const half = await extractInfection({ denoiser: blob, volume: volume.data, shape: [5, 16, 16], depth: 5, size: 8 });
    expect(half.shape).toEqual([5, 8, 8]);
    for (const [k, j, i] of [[0, 0, 0], [2, 3, 5], [4, 7, 7]] as const) {
      const at = (y: number, x: number): number => expected[k * 256 + y * 16 + x]!;
      const mean = (at(2 * j, 2 * i) + at(2 * j, 2 * i + 1) + at(2 * j + 1, 2 * i) + at(2 * j + 1, 2 * i + 1)) / 4;
      expect(half.data[k * 64 + j * 8 + i]).toBeCloseTo(mean, 5);
    }
    await expect(extractInfection({ denoiser: blob, volume: volume.data, shape: [5, 16, 16], size: 32 })).rejects.toThrow(/from 1 to the denoiser's 16/);
    // Slices larger than the model are block-averaged to its size first.
    const big = await extractInfection({ denoiser: model, volume: new Float32Array(2 * 32 * 32).fill(0.5), shape: [2, 32, 32], depth: 2 });
    expect(big.shape).toEqual([2, 16, 16]);
    setModelWeights(model, blob);
    model.dispose();
  });

  it('scores a denoiser on noisy held-out slices against doing nothing', async () => {
    const model = createBcduNet(BCDU, { seed: 3 });
    const metrics = await evaluateDenoiser({ weights: getModelBlob(model, 'bcdunet', BCDU), data: slices(3, 16, 8), seed: 1 });
    model.dispose();
    expect(metrics.count).toBe(3);
    expect(metrics.noisy_mse).toBeGreaterThan(0);
    expect(Number.isFinite(metrics.bce)).toBe(true);
  });
});

describe('class-balanced epochs', () => {
  it('draws every class as often as the largest one, each example at least once, in a seeded order', () => {
    // 6 control, 3 covid, 1 cap (labels 0, 1, 2)
    const labels = [0, 0, 0, 0, 0, 0, 1, 1, 1, 2];
    const order = epochOrder(labels, mulberry32(7), true);
    expect(order).toHaveLength(18);
    const counts = [0, 0, 0];
    for (const i of order) counts[labels[i] as number]! += 1;
    expect(counts).toEqual([6, 6, 6]);
    // 6 = 2 whole passes over the 3 covid studies; the single CAP study six times
    for (const i of [6, 7, 8]) expect(order.filter((k) => k === i)).toHaveLength(2);
    expect(order.filter((k) => k === 9)).toHaveLength(6);
    for (let i = 0; i < 6; i++) expect(order.filter((k) => k === i)).toHaveLength(1);
    expect(epochOrder(labels, mulberry32(7), true)).toEqual(order);
    expect(epochOrder(labels, mulberry32(8), true)).not.toEqual(order);
  });

  it('tops up a class that does not divide the largest with distinct examples', () => {
    const labels = [0, 0, 0, 0, 0, 1, 1];
    const order = epochOrder(labels, mulberry32(1), true);
    expect(order).toHaveLength(10);
    expect(order.filter((k) => k === 5).length + order.filter((k) => k === 6).length).toBe(5);
    expect(Math.abs(order.filter((k) => k === 5).length - order.filter((k) => k === 6).length)).toBe(1);
  });

  it('is a plain permutation when off', () => {
    const labels = [0, 0, 0, 1, 2];
    expect([...epochOrder(labels, mulberry32(3), false)].sort()).toEqual([0, 1, 2, 3, 4]);
  });
});
