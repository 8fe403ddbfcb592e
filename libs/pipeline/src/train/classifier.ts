import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ModelBlob } from '@fedct/protocol';
import { ChannelBatchNorm } from '../models/batch-norm';
import { CNN3D_MODEL, createCnn3d, type Cnn3dConfig } from '../models/cnn3d';
import { mulberry32 } from '../random';
import { getModelBlob } from '../models/weights';
import { fitModel, startFrom, validateFitOptions, type FitOptions } from './fit';
import { classificationMetrics, flattenMetrics, type ClassificationMetrics } from './metrics';
import { modelFromBlob } from './model-from-blob';
import { shuffled, type LabelledVolume, type TrainResult } from './data';
import { TrainError } from './train.errors';

/** Options of {@link trainClassifier}. */
export interface ClassifierTrainOptions extends FitOptions {
  config: Cnn3dConfig;
  /** Weights to start from (the global model), or null to start from `initSeed`'s initialisation. */
  initialWeights: ModelBlob | null;
  /** Seed of the initial weights when `initialWeights` is null: the same on every site. Default 0. */
  initSeed?: number;
  /** Infection volumes of shape `config.inputShape` with labels 0 control, 1 covid-19, 2 cap. */
  data: LabelledVolume[];
  /** Seed of shuffling and dropout: the same seed gives the same weights. */
  seed: number;
  /**
   * Mirror each training volume left-right with probability 1/2 (seeded). Not in the paper; the
   * classes are symmetric under it (bilateral Covid-19, unilateral CAP on either side). Default off.
   */
  flipAugment?: boolean;
  /**
   * Class-balanced epochs (not in the paper): each epoch draws every class as often as the largest one
   * (smaller classes repeated, in seeded random order), so a site whose studies are mostly one class
   * does not pull the shared model towards it. Default off.
   */
  classBalanced?: boolean;
  /**
   * After the last epoch, recompute the BatchNorm inference statistics at the final weights: one
   * forward pass over the training volumes (no flips), each layer's statistics the average of its
   * batch statistics. Not in the paper. The moving averages lag weights that move fast, and a
   * classifier that sorted studies well with batch statistics put them all in one class with its
   * moving ones. No effect without `config.batchNorm`. Default off.
   */
  recalibrate?: boolean;
}

/** One epoch's order of example indices: a plain shuffle, or every class topped up to the largest class. */
export function epochOrder(labels: readonly number[], rng: () => number, classBalanced: boolean): number[] {
  if (!classBalanced) return shuffled(labels.length, rng);
  const byClass = new Map<number, number[]>();
  labels.forEach((label, i) => {
    const list = byClass.get(label) ?? [];
    list.push(i);
    byClass.set(label, list);
  });
  const largest = Math.max(...[...byClass.values()].map((l) => l.length));
  const picked: number[] = [];
  for (const list of [...byClass.entries()].sort((a, b) => a[0] - b[0]).map(([, l]) => l)) {
    // Whole passes over the class, then a seeded random remainder without repeats.
    for (let i = 0; i + list.length <= largest; i += list.length) picked.push(...list);
    const rest = largest % list.length;
    if (rest > 0) picked.push(...shuffled(list.length, rng).slice(0, rest).map((k) => list[k] as number));
  }
  return shuffled(picked.length, rng).map((k) => picked[k] as number);
}

function checkVolumes(volumes: readonly LabelledVolume[], shape: readonly number[], channels: number, classes: number): void {
  volumes.forEach((v, i) => {
    if (v.shape.join(',') !== shape.join(',')) {
      throw new TrainError(`volume ${i} is ${v.shape.join('×')}, the classifier expects ${shape.join('×')}`);
    }
    if (v.data.length !== v.shape[0] * v.shape[1] * v.shape[2] * channels) {
      throw new TrainError(`volume ${i} holds ${v.data.length} values for shape ${v.shape.join('×')}${channels > 1 ? ` × ${channels} channels` : ''}`);
    }
    if (!Number.isInteger(v.label) || v.label < 0 || v.label >= classes) throw new TrainError(`volume ${i} has label ${v.label}; use 0..${classes - 1}`);
  });
}

/**
 * A batch [n, depth, height, width, channels] of volumes stored channels last; `flips` mirror them
 * left-right (each voxel's channels stay together). Exported for tests.
 */
export function stack(volumes: readonly LabelledVolume[], indices: readonly number[], shape: readonly number[], channels: number, flips?: readonly boolean[]): tf.Tensor5D {
  const size = (shape[0] ?? 0) * (shape[1] ?? 0) * (shape[2] ?? 0) * channels;
  const width = (shape[2] ?? 1) * channels;
  const x = new Float32Array(indices.length * size);
  indices.forEach((index, b) => {
    const source = (volumes[index] as LabelledVolume).data;
    if (!flips?.[b]) {
      x.set(source, b * size);
      return;
    }
    for (let row = 0; row < size; row += width) {
      for (let i = 0; i < width; i += channels) {
        for (let c = 0; c < channels; c++) x[b * size + row + i + c] = source[row + width - channels - i + c] ?? 0;
      }
    }
  });
  return tf.tensor5d(x, [indices.length, shape[0] ?? 0, shape[1] ?? 0, shape[2] ?? 0, channels]);
}

/**
 * Trains the 3-D CNN (`covidctnet-spec.md` §5) on labelled infection volumes: categorical
 * cross-entropy, Adam. Returns the new weights, the number of volumes and `{ loss }` (last epoch).
 * @throws TrainError on empty data, shapes other than `config.inputShape`, or invalid options.
 */
export async function trainClassifier(options: ClassifierTrainOptions): Promise<TrainResult> {
  validateFitOptions(options);
  const { config, data } = options;
  if (data.length === 0) throw new TrainError('no volumes to train the classifier on');
  const channels = config.inputChannels ?? 1;
  checkVolumes(data, config.inputShape, channels, config.classes);
  const rng = mulberry32(options.seed);
  const model = createCnn3d(config, { seed: options.initSeed ?? 0 });
  try {
    startFrom(model, options.initialWeights, CNN3D_MODEL);
    const loss = await fitModel(
      model, options, rng,
      () => {
        const order = epochOrder(data.map((v) => v.label), rng, options.classBalanced ?? false);
        const batches: number[][] = [];
        for (let i = 0; i < order.length; i += options.batchSize) batches.push(order.slice(i, i + options.batchSize));
        return batches;
      },
      (batch) => ({
        x: stack(data, batch, config.inputShape, channels, options.flipAugment ? batch.map(() => rng() < 0.5) : undefined),
        y: tf.oneHot(tf.tensor1d(batch.map((i) => (data[i] as LabelledVolume).label), 'int32'), config.classes),
      }),
      'categoricalCrossentropy',
      { kind: 'cnn3d', config },
    );
    if (options.recalibrate && config.batchNorm) await recalibrateBatchNorm(model, data, options.batchSize);
    return { weights: getModelBlob(model, CNN3D_MODEL, config), sampleCount: data.length, metrics: { loss } };
  } finally {
    model.dispose();
  }
}

/**
 * Sets every BatchNorm layer's inference statistics to the average of its batch statistics over
 * `volumes` (in order, batches of `batchSize`) at the model's current weights; no weight is trained.
 */
export async function recalibrateBatchNorm(model: tfl.LayersModel, volumes: readonly LabelledVolume[], batchSize: number): Promise<void> {
  const layers = model.layers.filter((l): l is ChannelBatchNorm => l instanceof ChannelBatchNorm);
  if (layers.length === 0 || volumes.length === 0) return;
  const { shape, channels } = inputOf(model);
  for (const layer of layers) layer.averagedBatches = 0;
  try {
    for (let start = 0; start < volumes.length; start += batchSize) {
      const indices = Array.from({ length: Math.min(batchSize, volumes.length - start) }, (_, i) => start + i);
      tf.tidy(() => {
        model.apply(stack(volumes, indices, shape, channels), { training: true });
      });
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    for (const layer of layers) layer.averagedBatches = null;
  }
}

/** Options of {@link calibrateClassifier}. */
export interface CalibrateOptions {
  /** The shared classifier. */
  weights: ModelBlob;
  /** Unlabeled infection volumes of one site's scanner model (any classes; labels are not read). */
  volumes: readonly Omit<LabelledVolume, 'label'>[];
  /**
   * Volumes per forward pass; each layer's statistics are the average of its batch statistics.
   * Default: every volume in one pass (up to 32), which gives the exact statistics of the set.
   */
  batchSize?: number;
}

/**
 * Site-local BatchNorm statistics (not in the paper; SiloBN, Andreux et al. 2020, and AdaBN): the
 * classifier with every BatchNorm layer's inference statistics recomputed on a site's own unlabeled
 * studies of one scanner model; every learned weight stays as federated training left it. Under
 * federation each hospital's batches hold one scanner model, so the network learns features normalised
 * per scanner; the FedAvg of the sites' moving statistics cannot reproduce that for a single study
 * (docs/ARCHITECTURE.md, "Site-local BatchNorm statistics"). A classifier without BatchNorm comes
 * back unchanged. No image leaves the site: the statistics stay where they were computed.
 * @throws TrainError on no volumes, or volumes of another shape than the classifier's input.
 */
export async function calibrateClassifier(options: CalibrateOptions): Promise<ModelBlob> {
  if (options.volumes.length === 0) throw new TrainError('no volumes to calibrate the classifier on');
  if (!hasBatchNorm(options.weights)) return options.weights;
  const model = modelFromBlob(options.weights, CNN3D_MODEL);
  try {
    const { shape, channels } = inputOf(model);
    // Labels are not read: 0 passes the label check.
    const volumes = options.volumes.map((v) => ({ data: v.data, shape: v.shape, label: 0 }));
    checkVolumes(volumes, shape, channels, 3);
    const batchSize = options.batchSize ?? Math.min(volumes.length, 32);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new TrainError(`batchSize must be a positive integer, got ${batchSize}`);
    await recalibrateBatchNorm(model, volumes, batchSize);
    return getModelBlob(model, CNN3D_MODEL, options.weights.manifest.config as unknown as Cnn3dConfig);
  } finally {
    model.dispose();
  }
}

/** Whether a classifier blob normalises with BatchNorm (and so can take site-local statistics). */
export function hasBatchNorm(blob: ModelBlob): boolean {
  return blob.manifest.config.batchNorm === true;
}

/** A classifier's input volume shape (depth, height, width) and channel count. */
function inputOf(model: tfl.LayersModel): { shape: number[]; channels: number } {
  const dims = (model.inputs[0]?.shape ?? []).map((d) => d ?? 0);
  return { shape: dims.slice(1, 4), channels: dims[4] ?? 1 };
}

/** Class probabilities (rows [control, covid-19, cap]) of each volume. */
export async function predictClasses(model: tfl.LayersModel, volumes: readonly LabelledVolume[] | readonly Omit<LabelledVolume, 'label'>[], batchSize = 4): Promise<number[][]> {
  const { shape, channels } = inputOf(model);
  const out: number[][] = [];
  for (let start = 0; start < volumes.length; start += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, volumes.length - start) }, (_, i) => start + i);
    const probs = tf.tidy(() => (model.predict(stack(volumes as LabelledVolume[], indices, shape, channels)) as tf.Tensor2D).arraySync());
    out.push(...probs);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return out;
}

/**
 * Evaluates a classifier on labelled infection volumes: every `covidctnet-spec.md` §6 metric, the
 * same as a flat record (for round results), and the probabilities.
 */
export async function evaluateClassifier(options: { weights: ModelBlob | tfl.LayersModel; data: LabelledVolume[]; batchSize?: number }): Promise<{
  metrics: ClassificationMetrics; flat: Record<string, number>; probabilities: number[][];
}> {
  if (options.data.length === 0) throw new TrainError('no volumes to evaluate');
  const owned = !(options.weights instanceof tfl.LayersModel);
  const model = options.weights instanceof tfl.LayersModel ? options.weights : modelFromBlob(options.weights, CNN3D_MODEL);
  try {
    const { shape, channels } = inputOf(model);
    checkVolumes(options.data, shape, channels, 3);
    const probabilities = await predictClasses(model, options.data, options.batchSize);
    const metrics = classificationMetrics(options.data.map((v) => v.label), probabilities);
    return { metrics, flat: flattenMetrics(metrics), probabilities };
  } finally {
    if (owned) model.dispose();
  }
}
