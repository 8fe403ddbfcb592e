import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { channelBatchNorm } from './batch-norm';

const SHAPE = [3, 4, 6, 5, 4];

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(tf.reshape(a, [-1]), tf.reshape(b, [-1])))).dataSync()[0] ?? Infinity);
}

function maxAbs(a: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0] ?? 0);
}

/** Gradients of Σ(layer(x) · w) w.r.t. x, gamma and beta, in training mode. */
function gradients(layer: tfl.layers.Layer, x: tf.Tensor, w: tf.Tensor): tf.Tensor[] {
  const f = (input: tf.Tensor): tf.Scalar => tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, tf.reshape(w, input.shape)));
  const dx = tf.grad(f)(x);
  const vars = layer.trainableWeights.map((v) => v.read() as tf.Variable);
  const { grads } = tf.variableGrads(() => f(x), vars);
  return [dx, ...vars.map((v) => grads[v.name] as tf.Tensor)];
}

describe('channelBatchNorm', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('matches tfjs-layers BatchNormalization (on the same values folded to rank 4): outputs, gradients, moving statistics', () => {
    // Channels with different scales and offsets (offset 20 × the spread in the last one).
    const x = tf.tidy(() => tf.add(tf.mul(tf.randomNormal(SHAPE, 0, 1, 'float32', 1), tf.tensor1d([0.5, 1, 2, 0.1])), tf.tensor1d([-2, 0, 3, 2])));
    const folded = tf.reshape(x, [3, 4 * 6, 5, 4]);
    const w = tf.randomNormal(SHAPE, 0, 1, 'float32', 2);
    const mine = channelBatchNorm({ name: 'mine_bn', momentum: 0.9 });
    const reference = tfl.layers.batchNormalization({ axis: -1, momentum: 0.9, name: 'reference_bn' });
    (mine.apply(tf.zeros([1, 1, 1, 1, 4])) as tf.Tensor).dispose();
    (reference.apply(tf.zeros([1, 1, 1, 4])) as tf.Tensor).dispose();
    const start = [tf.tensor1d([0.5, 1, 1.5, 2]), tf.tensor1d([-1, 0, 1, 2]), tf.zeros([4]), tf.ones([4])];
    mine.setWeights(start);
    reference.setWeights(start);
    expect(mine.weights.map((v) => v.originalName)).toEqual(['mine_bn/gamma', 'mine_bn/beta', 'mine_bn/moving_mean', 'mine_bn/moving_variance']);
    expect(mine.trainableWeights).toHaveLength(2);

    const yTrain = mine.apply(x, { training: true }) as tf.Tensor;
    const yRef = reference.apply(folded, { training: true }) as tf.Tensor;
    expect(yTrain.shape).toEqual(SHAPE);
    expect(maxDiff(yTrain, yRef)).toBeLessThan(1e-5);
    const [dx, dGamma, dBeta] = gradients(mine, x, w);
    const [rdx, rdGamma, rdBeta] = gradients(reference, folded, w);
    expect(maxDiff(dx!, rdx!)).toBeLessThan(1e-5 * maxAbs(rdx!) + 1e-6);
    expect(maxDiff(dGamma!, rdGamma!)).toBeLessThan(1e-4 * maxAbs(rdGamma!));
    expect(maxDiff(dBeta!, rdBeta!)).toBeLessThan(1e-4 * maxAbs(rdBeta!));
    // Three training passes each (apply, grad, variableGrads): the moving statistics moved the same way.
    const [mm, mv] = mine.getWeights().slice(2);
    const [rm, rv] = reference.getWeights().slice(2);
    expect(maxAbs(mm!)).toBeGreaterThan(0.5);
    expect(maxDiff(mm!, rm!)).toBeLessThan(1e-5);
    expect(maxDiff(mv!, rv!)).toBeLessThan(1e-5);
    const yInfer = mine.apply(x) as tf.Tensor;
    const yInferRef = reference.apply(folded) as tf.Tensor;
    expect(maxDiff(yInfer, yInferRef)).toBeLessThan(1e-5);
    expect(maxDiff(yInfer, yTrain)).toBeGreaterThan(0.1);
    tf.dispose([x, folded, w, yTrain, yRef, dx!, dGamma!, dBeta!, rdx!, rdGamma!, rdBeta!, mm!, mv!, rm!, rv!, yInfer, yInferRef, ...start]);
  });

  it('normalises each channel of a training batch to mean beta and spread gamma (hand-checked)', () => {
    const layer = channelBatchNorm({ name: 'hand_bn', momentum: 0.5, epsilon: 0 });
    // One channel, values 1, 3 (mean 2, biased variance 1): normalised −1, 1.
    const x = tf.tensor5d([1, 3], [2, 1, 1, 1, 1]);
    (layer.apply(tf.zeros([1, 1, 1, 1, 1])) as tf.Tensor).dispose();
    layer.setWeights([tf.tensor1d([2]), tf.tensor1d([10]), tf.tensor1d([0]), tf.tensor1d([1])]);
    const y = layer.apply(x, { training: true }) as tf.Tensor;
    expect(Array.from(y.dataSync())).toEqual([8, 12]);
    // Moving statistics: 0.5 · old + 0.5 · batch.
    const [mean, variance] = layer.getWeights().slice(2).map((t) => t.dataSync()[0]);
    expect(mean).toBeCloseTo(1, 6);
    expect(variance).toBeCloseTo(1, 6);
    tf.dispose([x, y]);
  });
});
