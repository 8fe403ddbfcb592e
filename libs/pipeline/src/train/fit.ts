import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ModelBlob } from '@fedct/protocol';
import { backendInfo } from '../backend/backend';
import { setModelWeights } from '../models/weights';
import { mulberry32, withSeededRandom } from '../random';
import { TrainError } from './train.errors';
import { yieldToEventLoop, type TrainProgress } from './data';
import { batchLoss, flatGradients, flatWeights, type LossName } from './grads';
import { GradientWorkers } from './parallel';
import type { WorkerStep } from './parallel.types';

/** Options shared by the training loops. */
export interface FitOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** FedProx: adds mu/2 · ||w − w_start||² over the trainable weights (0 or absent: plain FedAvg). */
  proximalMu?: number;
  /**
   * Threads for data-parallel training on the wasm/cpu backends (default 1): each computes the
   * gradients of a share of every batch, the main thread averages them (weighted by share) and steps.
   * The same seed and thread count give the same result; other thread counts give the same maths up to
   * float rounding except where the network has dropout (other masks) or BatchNorm (statistics per share).
   */
  workers?: number;
  onProgress?: (progress: TrainProgress) => void;
}

export function validateFitOptions(o: FitOptions): void {
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new TrainError(`epochs must be a positive integer, got ${o.epochs}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new TrainError(`batchSize must be a positive integer, got ${o.batchSize}`);
  if (!(o.learningRate > 0)) throw new TrainError(`learningRate must be > 0, got ${o.learningRate}`);
  if (o.proximalMu !== undefined && !(o.proximalMu >= 0)) throw new TrainError(`proximalMu must be >= 0, got ${o.proximalMu}`);
  if (o.workers !== undefined && (!Number.isInteger(o.workers) || o.workers < 1)) throw new TrainError(`workers must be a positive integer, got ${o.workers}`);
}

/** Loads `initial` into `model` when given (else the model keeps its seeded initial weights). */
export function startFrom(model: tfl.LayersModel, initial: ModelBlob | null, kind: string): void {
  if (initial) setModelWeights(model, initial, kind);
}

/** Which network is trained, so that worker threads can build the same one. */
export interface ModelSpec {
  kind: 'bcdunet' | 'cnn3d';
  config: object;
}

/** Splits `n` examples into `parts` contiguous shares, larger ones first. */
function shares(n: number, parts: number): number[] {
  const k = Math.min(n, parts);
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}

/**
 * Runs `epochs` of mini-batch Adam on `model`. `batches(epoch)` lists the batches of an epoch;
 * `makeBatch` builds one (inputs and targets, disposed here). Each step draws a seed from `rng` for its
 * dropout masks; steps are synchronous on the main thread, then the loop yields to the event loop.
 * Returns the mean loss of the last epoch. Leaks no tensors.
 */
export async function fitModel<B>(
  model: tfl.LayersModel,
  options: FitOptions,
  rng: () => number,
  batches: (epoch: number) => B[],
  makeBatch: (batch: B) => { x: tf.Tensor; y: tf.Tensor },
  loss: LossName,
  spec: ModelSpec,
): Promise<number> {
  const optimizer = tf.train.adam(options.learningRate);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const mu = options.proximalMu ?? 0;
  const anchors = mu > 0 ? vars.map((v) => tf.keep(v.clone())) : [];
  const backend = backendInfo()?.name ?? 'cpu';
  const parallel = (options.workers ?? 1) > 1 && (backend === 'wasm' || backend === 'cpu');
  const pool = parallel
    ? await GradientWorkers.start((options.workers ?? 1) - 1, { backend, kind: spec.kind, config: { ...spec.config } })
    : null;
  if (pool && mu > 0) pool.setAnchors(trainableFlat(vars));
  let lastEpochLoss = NaN;
  try {
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      const plan = batches(epoch);
      if (plan.length === 0) throw new TrainError('no training data');
      let sum = 0;
      for (let step = 0; step < plan.length; step++) {
        const batch = plan[step] as B;
        const seed = Math.floor(rng() * 0x7fffffff);
        const value = pool
          ? await parallelStep(model, vars, optimizer, pool, tf.tidy(() => makeBatch(batch)), loss, mu, anchors, seed)
          : withSeededRandom(mulberry32(seed), () => tf.tidy(() => {
            const { x, y } = makeBatch(batch);
            const cost = optimizer.minimize(() => batchLoss(model, vars, x, y, loss, mu, anchors), true, vars);
            return cost ? cost.dataSync()[0] ?? NaN : NaN;
          }));
        if (!Number.isFinite(value)) throw new TrainError(`training diverged: loss is ${value} at epoch ${epoch + 1}, step ${step + 1}`);
        sum += value;
        options.onProgress?.({ epoch: epoch + 1, epochs: options.epochs, step: step + 1, steps: plan.length, loss: sum / (step + 1) });
        await yieldToEventLoop();
      }
      lastEpochLoss = sum / plan.length;
    }
  } finally {
    optimizer.dispose();
    tf.dispose(anchors);
    await pool?.close();
  }
  return lastEpochLoss;
}

function trainableFlat(vars: tf.Variable[]): Float32Array {
  const out = new Float32Array(vars.reduce((n, v) => n + v.size, 0));
  let offset = 0;
  for (const v of vars) {
    out.set(v.dataSync(), offset);
    offset += v.size;
  }
  return out;
}

/**
 * One data-parallel step: share 0 on this thread, the others on the workers; gradients and BatchNorm
 * statistics averaged with weights share/batch (the batch loss is a mean, so this is its gradient).
 */
async function parallelStep(
  model: tfl.LayersModel, vars: tf.Variable[], optimizer: tf.Optimizer, pool: GradientWorkers,
  batch: { x: tf.Tensor; y: tf.Tensor }, loss: LossName, mu: number, anchors: tf.Tensor[], seed: number,
): Promise<number> {
  const n = batch.x.shape[0] ?? 1;
  const sizes = shares(n, pool.size + 1);
  const xValues = batch.x.dataSync() as Float32Array;
  const yValues = batch.y.dataSync() as Float32Array;
  const xRow = xValues.length / n;
  const yRow = yValues.length / n;
  const weights = flatWeights(model);
  const steps: WorkerStep[] = [];
  let start = sizes[0] ?? n;
  for (let i = 1; i < sizes.length; i++) {
    const size = sizes[i] ?? 0;
    steps.push({
      type: 'step', weights: weights.slice(), loss, mu, seed: seed + i,
      x: xValues.slice(start * xRow, (start + size) * xRow), xShape: [size, ...batch.x.shape.slice(1)],
      y: yValues.slice(start * yRow, (start + size) * yRow), yShape: [size, ...batch.y.shape.slice(1)],
    });
    start += size;
  }
  const remote = pool.compute(steps);
  const own = sizes[0] ?? n;
  const xOwn = tf.slice(batch.x, 0, own);
  const yOwn = tf.slice(batch.y, 0, own);
  const local = withSeededRandom(mulberry32(seed), () => flatGradients(model, vars, xOwn, yOwn, loss, mu, anchors));
  tf.dispose([xOwn, yOwn]);
  tf.dispose([batch.x, batch.y]);
  const replies = await remote;
  const share0 = own / n;
  const grads = local.grads;
  for (let i = 0; i < grads.length; i++) grads[i] = (grads[i] ?? 0) * share0;
  let value = local.loss * share0;
  replies.forEach((reply, r) => {
    const share = (sizes[r + 1] ?? 0) / n;
    for (let i = 0; i < grads.length; i++) grads[i] = (grads[i] ?? 0) + share * (reply.grads[i] ?? 0);
    value += share * reply.loss;
  });
  // BatchNorm moving statistics: the share-weighted mean of what each share's forward pass wrote.
  const ws = model.weights;
  if (ws.some((w) => !w.trainable)) {
    tf.tidy(() => {
      let offset = 0;
      for (const w of ws) {
        const size = w.read().size;
        if (!w.trainable) {
          const mean = (w.read().dataSync() as Float32Array).map((v) => v * share0);
          replies.forEach((reply, r) => {
            const share = (sizes[r + 1] ?? 0) / n;
            for (let i = 0; i < size; i++) mean[i] = (mean[i] ?? 0) + share * (reply.weights[offset + i] ?? 0);
          });
          w.write(tf.tensor(mean, w.shape as number[]));
        }
        offset += size;
      }
    });
  }
  tf.tidy(() => {
    const named: tf.NamedTensorMap = {};
    let offset = 0;
    for (const v of vars) {
      named[v.name] = tf.tensor(grads.subarray(offset, offset + v.size), v.shape);
      offset += v.size;
    }
    optimizer.applyGradients(named);
  });
  return value;
}
