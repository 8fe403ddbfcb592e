import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ModelBlob } from '@fedct/protocol';
import { resizeDepth } from '../ct';
import { BCDUNET_MODEL, createBcduNet, type BcduNetConfig } from '../models/bcdunet';
import { mulberry32 } from '../random';
import { getModelBlob } from '../models/weights';
import { addPerlinNoise, randomPerlinParams } from '../noise/perlin';
import { fitModel, startFrom, validateFitOptions, type FitOptions } from './fit';
import { modelFromBlob } from './model-from-blob';
import { resizeSlices, shuffled, type SliceSet, type TrainResult } from './data';
import { TrainError } from './train.errors';

/** Options of {@link trainDenoiser}. */
export interface DenoiserTrainOptions extends FitOptions {
  config: BcduNetConfig;
  /** Weights to start from (the global model), or null to start from `initSeed`'s initialisation. */
  initialWeights: ModelBlob | null;
  /** Seed of the initial weights when `initialWeights` is null: the same on every site. Default 0. */
  initSeed?: number;
  /** Control slices, any in-plane size (resized to `config.size`). */
  data: SliceSet;
  /** Seed of shuffling, pseudo-infection and dropout: the same seed gives the same weights. */
  seed: number;
  /** Share of the slices of each epoch that carry Perlin noise (paper: half). */
  noisyFraction?: number;
}

/** Slices resized to size × size, (count, size, size). */
export function slicesAtSize(data: SliceSet, size: number): Float32Array {
  const { count, height, width } = data;
  if (data.data.length !== count * height * width) {
    throw new TrainError(`slice set holds ${data.data.length} values, ${count} × ${height} × ${width} expected`);
  }
  if (height === size && width === size) return data.data;
  const out = new Float32Array(count * size * size);
  const chunk = 64;
  for (let start = 0; start < count; start += chunk) {
    const n = Math.min(chunk, count - start);
    // tf.tidy returns the tensor, not its values: tidy walks returned objects key by key.
    const resized = tf.tidy(() => resizeSlices(
      tf.tensor4d(data.data.subarray(start * height * width, (start + n) * height * width), [n, height, width, 1]), size));
    out.set(resized.dataSync(), start * size * size);
    resized.dispose();
  }
  return out;
}

/**
 * Trains BCDU-Net as a denoiser (`covidctnet-spec.md` §2–3): inputs are Control slices of which a
 * seeded random share carries fresh Perlin pseudo-infection, targets are the clean slices; binary
 * cross-entropy, Adam. Returns the new weights, the number of slices and `{ loss }` (last epoch, incl.
 * the FedProx term when `proximalMu` > 0).
 * @throws TrainError on empty data or invalid options; ModelError when `initialWeights` do not fit.
 */
export async function trainDenoiser(options: DenoiserTrainOptions): Promise<TrainResult> {
  validateFitOptions(options);
  const { config, data } = options;
  if (data.count < 1) throw new TrainError('no control slices to train the denoiser on');
  const size = config.size;
  const plane = size * size;
  const slices = slicesAtSize(data, size);
  const rng = mulberry32(options.seed);
  const fraction = options.noisyFraction ?? 0.5;
  const model = createBcduNet(config, { seed: options.initSeed ?? 0 });
  try {
    startFrom(model, options.initialWeights, BCDUNET_MODEL);
    let noisy = new Set<number>();
    const loss = await fitModel(
      model, options, rng,
      () => {
        const order = shuffled(data.count, rng);
        noisy = new Set(shuffled(data.count, rng).slice(0, Math.round(fraction * data.count)));
        const batches: number[][] = [];
        for (let i = 0; i < order.length; i += options.batchSize) batches.push(order.slice(i, i + options.batchSize));
        return batches;
      },
      (batch) => {
        const x = new Float32Array(batch.length * plane);
        const y = new Float32Array(batch.length * plane);
        batch.forEach((index, b) => {
          const clean = slices.subarray(index * plane, (index + 1) * plane);
          y.set(clean, b * plane);
          x.set(noisy.has(index) ? addPerlinNoise(clean, size, randomPerlinParams(rng)) : clean, b * plane);
        });
        return { x: tf.tensor4d(x, [batch.length, size, size, 1]), y: tf.tensor4d(y, [batch.length, size, size, 1]) };
      },
      'binaryCrossentropy',
      { kind: 'bcdunet', config },
    );
    return { weights: getModelBlob(model, BCDUNET_MODEL, config), sampleCount: data.count, metrics: { loss } };
  } finally {
    model.dispose();
  }
}

/**
 * Denoiser quality on held-out Control slices, every slice with seeded Perlin noise: `bce` and `mse`
 * of the output against the clean slice, and `noisy_mse` of the input (what doing nothing scores).
 */
export async function evaluateDenoiser(options: { weights: ModelBlob; data: SliceSet; seed: number; batchSize?: number }): Promise<Record<string, number>> {
  const model = modelFromBlob(options.weights, BCDUNET_MODEL);
  try {
    const size = (options.weights.manifest.config as unknown as BcduNetConfig).size;
    const plane = size * size;
    const slices = slicesAtSize(options.data, size);
    const rng = mulberry32(options.seed);
    const batchSize = options.batchSize ?? 8;
    let bceSum = 0;
    let mseSum = 0;
    let noisyMseSum = 0;
    for (let start = 0; start < options.data.count; start += batchSize) {
      const n = Math.min(batchSize, options.data.count - start);
      const clean = slices.subarray(start * plane, (start + n) * plane);
      const noisy = new Float32Array(n * plane);
      for (let b = 0; b < n; b++) noisy.set(addPerlinNoise(clean.subarray(b * plane, (b + 1) * plane), size, randomPerlinParams(rng)), b * plane);
      const [b, m, nm] = tf.tidy(() => {
        const x = tf.tensor4d(noisy, [n, size, size, 1]);
        const y = tf.tensor4d(clean, [n, size, size, 1]);
        const out = model.predict(x) as tf.Tensor;
        return [tf.sum(tfl.metrics.binaryCrossentropy(y, out)), tf.sum(tf.squaredDifference(y, out)), tf.sum(tf.squaredDifference(y, x))]
          .map((t) => t.dataSync()[0] ?? NaN);
      }) as [number, number, number];
      bceSum += b;
      mseSum += m;
      noisyMseSum += nm;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const count = options.data.count;
    return { bce: bceSum / (count * plane), mse: mseSum / (count * plane), noisy_mse: noisyMseSum / (count * plane), count };
  } finally {
    model.dispose();
  }
}

/** Options of {@link extractInfection}. */
export interface ExtractInfectionOptions {
  /** The frozen BCDU-Net: a model, or weights (rebuilt and disposed here). */
  denoiser: tfl.LayersModel | ModelBlob;
  /** Model-ready volume (z, h, w), values in [0, 1]. */
  volume: Float32Array;
  shape: [number, number, number];
  /** Slices of the output (spec: 50). */
  depth?: number;
  /**
   * Height and width of the output (default: the denoiser's size, as in the spec). Smaller sizes
   * average the residual down (block means when the denoiser's size is a multiple, else bilinear).
   */
  size?: number;
  /** Slices per inference batch (default 8). */
  batchSize?: number;
}

/**
 * Infection volume (`covidctnet-spec.md` §4): per slice `x − BCDUNet(x)` (signed, no threshold),
 * with slices first resized to the denoiser's size, the residual then to `size` (when given), and
 * the stack to `depth` slices. Returns (depth, size, size).
 */
export async function extractInfection(options: ExtractInfectionOptions): Promise<{ data: Float32Array; shape: [number, number, number] }> {
  const owned = !(options.denoiser instanceof tfl.LayersModel);
  const model = options.denoiser instanceof tfl.LayersModel ? options.denoiser : modelFromBlob(options.denoiser, BCDUNET_MODEL);
  try {
    const [z, h, w] = options.shape;
    if (options.volume.length !== z * h * w) throw new TrainError(`volume holds ${options.volume.length} values, shape says ${z * h * w}`);
    const inputShape = model.inputs[0]?.shape ?? [];
    const modelSize = inputShape[1] ?? h;
    const size = options.size ?? modelSize;
    if (!Number.isInteger(size) || size < 1 || size > modelSize) throw new TrainError(`infection map size must be an integer from 1 to the denoiser's ${modelSize}, got ${size}`);
    const batchSize = options.batchSize ?? 8;
    const residual = new Float32Array(z * size * size);
    for (let start = 0; start < z; start += batchSize) {
      const n = Math.min(batchSize, z - start);
      const values = tf.tidy(() => {
        const x = resizeSlices(tf.tensor4d(options.volume.subarray(start * h * w, (start + n) * h * w), [n, h, w, 1]), modelSize);
        return resizeSlices(tf.sub(x, model.predict(x) as tf.Tensor4D), size);
      });
      residual.set(values.dataSync(), start * size * size);
      values.dispose();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const depth = options.depth ?? 50;
    return { data: resizeDepth({ data: residual, shape: [z, size, size] }, depth), shape: [depth, size, size] };
  } finally {
    if (owned) model.dispose();
  }
}
