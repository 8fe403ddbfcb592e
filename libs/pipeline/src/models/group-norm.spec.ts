import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { mulberry32 } from '../random';
import { groupNorm } from './group-norm';

/** Independent: plain loops over [n, positions, channels] arrays. */
function reference(x: Float32Array, n: number, positions: number, channels: number, groups: number, gamma: number[], beta: number[], eps: number): Float32Array {
  const out = new Float32Array(x.length);
  const per = channels / groups;
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      let sum = 0;
      let count = 0;
      for (let p = 0; p < positions; p++) for (let c = g * per; c < (g + 1) * per; c++) { sum += x[(b * positions + p) * channels + c]!; count++; }
      const mean = sum / count;
      let sq = 0;
      for (let p = 0; p < positions; p++) for (let c = g * per; c < (g + 1) * per; c++) sq += (x[(b * positions + p) * channels + c]! - mean) ** 2;
      const sd = Math.sqrt(sq / count + eps);
      for (let p = 0; p < positions; p++) for (let c = g * per; c < (g + 1) * per; c++) {
        const i = (b * positions + p) * channels + c;
        out[i] = ((x[i]! - mean) / sd) * gamma[c]! + beta[c]!;
      }
    }
  }
  return out;
}

describe('groupNorm', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('normalises each example\'s channel groups on their own, the same in training and inference', () => {
    const rng = mulberry32(5);
    const shape = [3, 2, 3, 4, 6];
    const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => rng() * 4 + (i % 6) - (i > 100 ? 3 : 0));
    const layer = groupNorm({ name: 'gn', groups: 2 });
    const x = tf.tensor(values, shape);
    layer.apply(x);
    const gamma = [1, 2, 0.5, -1, 3, 1.5];
    const beta = [0, 0.1, -0.2, 0.3, 1, -1];
    layer.setWeights([tf.tensor1d(gamma), tf.tensor1d(beta)]);
    const want = reference(values, 3, 2 * 3 * 4, 6, 2, gamma, beta, 1e-3);
    for (const training of [true, false]) {
      const y = layer.apply(x, { training }) as tf.Tensor;
      const got = y.dataSync();
      want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 4));
      y.dispose();
    }
    // One example's output does not depend on the others in its batch.
    const alone = layer.apply(x.slice([1], [1])) as tf.Tensor;
    const per = values.length / 3;
    Array.from(alone.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(want[per + i]!, 4));
    tf.dispose([x, alone]);
  });

  it('trains gamma and beta, and refuses groups that do not divide the channels', () => {
    const layer = groupNorm({ name: 'gn2', groups: 4 });
    const model = tfl.sequential({ layers: [tfl.layers.inputLayer({ inputShape: [5, 8] }), layer] });
    expect(model.trainableWeights.map((w) => w.originalName)).toEqual(['gn2/gamma', 'gn2/beta']);
    const x = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 1);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(model.apply(x) as tf.Tensor, tf.range(0, 80).reshape([2, 5, 8]))), vars);
    // d/dbeta_c = Σ over examples and positions of the weights on channel c: by hand.
    const dBeta = grads[vars[1]!.name]!.dataSync();
    for (let c = 0; c < 8; c++) {
      let want = 0;
      for (let b = 0; b < 2; b++) for (let p = 0; p < 5; p++) want += b * 40 + p * 8 + c;
      expect(dBeta[c]).toBeCloseTo(want, 3);
    }
    tf.dispose([x, ...Object.values(grads)]);
    expect(() => tfl.sequential({ layers: [tfl.layers.inputLayer({ inputShape: [5, 6] }), groupNorm({ name: 'gn3', groups: 4 })] })).toThrow(/4 groups do not divide 6/);
    model.dispose();
  });
});
