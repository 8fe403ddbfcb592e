/**
 * `npm run bench -- batchnorm [--json] [--quick]`: the fourth session's default 3-D CNN (24 × 64 × 64,
 * filters 8/16/32/64, BatchNorm + leaky ReLU; the default profile has used 12 × 32 × 32 without
 * BatchNorm since) and its BatchNorm layer on the wasm backend, one thread.
 * - `batchnorm.train_ms`: forward + backward of one BatchNorm layer on the first stage's activations of
 *   a 4-study batch ([4, 22, 62, 62, 8]), for `channelBatchNorm` and for tfjs-layers' own layer (on the
 *   same values folded to rank 4, which it needs).
 * - `cnn3d_bn64.train.volumes_per_s`: training steps (Adam, batch 4) of that classifier with and without
 *   its BatchNorm and leaky ReLUs.
 */
import { cpus, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { channelBatchNorm, createCnn3d, initBackend, type Cnn3dConfig } from '@fedct/pipeline';
import type { BenchSuite } from './types';

function msPerRep(reps: number, fn: () => void): number {
  fn();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) fn();
  return (performance.now() - t0) / reps;
}

const run: BenchSuite = async function* ({ quick }) {
  const backend = await initBackend('wasm');
  const reps = quick ? 3 : 10;
  const context = { backend: backend.name, threads: backend.threads, cores: cpus().length, load_avg_1m: Number(loadavg()[0]?.toFixed(2)) };

  const shape = [4, 22, 62, 62, 8];
  const x = tf.randomNormal(shape, 0.3, 1, 'float32', 1);
  const dy = tf.randomNormal(shape, 0, 1, 'float32', 2);
  const layers: [string, tfl.layers.Layer, tf.Tensor][] = [
    ['channelBatchNorm', channelBatchNorm({ name: 'bench_channel_bn', momentum: 0.9 }), x],
    ['tfjs-layers batchNormalization', tfl.layers.batchNormalization({ axis: -1, momentum: 0.9, name: 'bench_tfjs_bn' }), tf.reshape(x, [4, 22 * 62, 62, 8])],
  ];
  for (const [implementation, layer, input] of layers) {
    const weight = tf.reshape(dy, input.shape);
    const step = (): void => tf.tidy(() => {
      const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, weight)), vars);
      value.dataSync();
      Object.values(grads).forEach((g) => g.dataSync());
      tf.grad((v: tf.Tensor) => tf.sum(tf.mul(layer.apply(v, { training: true }) as tf.Tensor, weight)))(input).dataSync();
    });
    (layer.apply(input) as tf.Tensor).dispose();
    // One step = two forward passes and the gradients w.r.t. gamma, beta and the input.
    yield { metric: 'batchnorm.train_ms', value: msPerRep(reps, step), unit: 'ms', ...context, implementation, shape: shape.join('x') };
    tf.dispose([weight, ...layer.weights.map((w) => w.read())]);
    if (input !== x) input.dispose();
  }
  tf.dispose([x, dy]);

  const base: Cnn3dConfig = { inputShape: [24, 64, 64], filters: [8, 16, 32, 64], denseUnits: 32, dropout: 0.3, classes: 3, batchNorm: true, leakyRelu: 0.1 };
  const plain: Cnn3dConfig = { ...base, batchNorm: false, leakyRelu: 0 };
  for (const [variant, config] of [['BatchNorm + leaky ReLU', base], ['same sizes, the paper\'s layers', plain]] as const) {
    const model = createCnn3d(config, { seed: 1 });
    const batch = 4;
    const xb = tf.randomUniform([batch, ...config.inputShape, 1], 0, 1, 'float32', 3);
    const yb = tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3);
    const optimizer = tf.train.adam(1e-3);
    const ms = msPerRep(quick ? 2 : 5, () => tf.tidy(() => void optimizer.minimize(
      () => tf.mean(tfl.metrics.categoricalCrossentropy(yb, model.apply(xb, { training: true }) as tf.Tensor)), true)?.dataSync()));
    yield { metric: 'cnn3d_bn64.train.volumes_per_s', value: (batch * 1000) / ms, unit: 'volumes/s', ...context, variant, batch, ms_per_step: ms };
    optimizer.dispose();
    tf.dispose([xb, yb]);
    model.dispose();
  }
};
export default run;
