import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ModelBlob } from '@fedct/protocol';
import { setModelWeights } from '../models/weights';
import { withSeededRandom } from '../models/seeded-random';
import { TrainError } from './train.errors';
import { yieldToEventLoop, type TrainProgress } from './data';

/** Options shared by the training loops. */
export interface FitOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** FedProx: adds mu/2 · ||w − w_start||² over the trainable weights (0 or absent: plain FedAvg). */
  proximalMu?: number;
  onProgress?: (progress: TrainProgress) => void;
}

export function validateFitOptions(o: FitOptions): void {
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new TrainError(`epochs must be a positive integer, got ${o.epochs}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new TrainError(`batchSize must be a positive integer, got ${o.batchSize}`);
  if (!(o.learningRate > 0)) throw new TrainError(`learningRate must be > 0, got ${o.learningRate}`);
  if (o.proximalMu !== undefined && !(o.proximalMu >= 0)) throw new TrainError(`proximalMu must be >= 0, got ${o.proximalMu}`);
}

/** Loads `initial` into `model` when given (else the model keeps its seeded initial weights). */
export function startFrom(model: tfl.LayersModel, initial: ModelBlob | null, kind: string): void {
  if (initial) setModelWeights(model, initial, kind);
}

/**
 * Runs `epochs` of mini-batch Adam on `model`. `batches(epoch)` lists the batches of an epoch;
 * `makeBatch` builds one (inputs and targets, disposed here); `loss` compares targets with outputs.
 * Random ops (dropout) draw from `rng` through Math.random; every step is synchronous, then the loop
 * yields to the event loop. Returns the mean loss of the last epoch. Leaks no tensors.
 */
export async function fitModel<B>(
  model: tfl.LayersModel,
  options: FitOptions,
  rng: () => number,
  batches: (epoch: number) => B[],
  makeBatch: (batch: B) => { x: tf.Tensor; y: tf.Tensor },
  loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar,
): Promise<number> {
  const optimizer = tf.train.adam(options.learningRate);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const mu = options.proximalMu ?? 0;
  const anchors = mu > 0 ? vars.map((v) => tf.keep(v.clone())) : [];
  let lastEpochLoss = NaN;
  try {
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      const plan = batches(epoch);
      if (plan.length === 0) throw new TrainError('no training data');
      let sum = 0;
      for (let step = 0; step < plan.length; step++) {
        const batch = plan[step] as B;
        const value = withSeededRandom(rng, () => tf.tidy(() => {
          const { x, y } = makeBatch(batch);
          const cost = optimizer.minimize(() => {
            const out = model.apply(x, { training: true }) as tf.Tensor;
            let l = loss(y, out);
            if (mu > 0) {
              const prox = tf.addN(vars.map((v, i) => tf.sum(tf.square(tf.sub(v, anchors[i] as tf.Tensor)))));
              l = tf.add(l, tf.mul(mu / 2, prox));
            }
            return l;
          }, true, vars);
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
  }
  return lastEpochLoss;
}
