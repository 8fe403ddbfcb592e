/**
 * `npm run bench -- models [--json] [--quick]`: training and inference speed of the two networks at
 * paper size on the default backend (wasm here) and, where it finishes within a minute, on pure-JS cpu.
 * GFLOP/s use the spec's counts (forward 10.2 GFLOP per slice, 6.5 per study; training = 3 × forward).
 */
import { cpus, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { availableParallelism } from 'node:os';
import { createBcduNet, createCnn3d, forwardFlops, initBackend, loadProfile, mulberry32, trainClassifier, trainDenoiser, type BackendName, type TrainProgress } from '@fedct/pipeline';
import type { BenchResult, BenchSuite } from './types';

interface Timing {
  seconds: number;
  cpuSeconds: number;
}

function time(reps: number, fn: () => void): Timing {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) fn();
  const cpu = process.cpuUsage(c0);
  return { seconds: (performance.now() - t0) / 1000 / reps, cpuSeconds: (cpu.user + cpu.system) / 1e6 / reps };
}

interface Case {
  model: 'bcdunet' | 'cnn3d';
  unit: 'slices' | 'volumes';
  build: () => tfl.LayersModel;
  input: (batch: number) => tf.Tensor;
  target: (batch: number) => tf.Tensor;
  loss: (y: tf.Tensor, p: tf.Tensor) => tf.Scalar;
  trainBatch: number;
}

const run: BenchSuite = async function* ({ quick }) {
  const paper = loadProfile('paper');
  const cases: Case[] = [
    {
      model: 'bcdunet', unit: 'slices', trainBatch: 5,
      build: () => createBcduNet(paper.models.bcdunet, { seed: 1 }),
      input: (b) => tf.randomUniform([b, 128, 128, 1], 0, 1, 'float32', 1),
      target: (b) => tf.randomUniform([b, 128, 128, 1], 0, 1, 'float32', 2),
      loss: (y, p) => tf.mean(tfl.metrics.binaryCrossentropy(y, p)),
    },
    {
      model: 'cnn3d', unit: 'volumes', trainBatch: 2,
      build: () => createCnn3d(paper.models.cnn3d, { seed: 1 }),
      input: (b) => tf.randomUniform([b, 50, 128, 128, 1], -0.2, 0.2, 'float32', 3),
      target: (b) => tf.oneHot(tf.tensor1d(Array.from({ length: b }, (_, i) => i % 3), 'int32'), 3),
      loss: (y, p) => tf.mean(tfl.metrics.categoricalCrossentropy(y, p)),
    },
  ];
  const reps = quick ? 1 : 3;
  for (const backendName of ['wasm', 'cpu'] as BackendName[]) {
    const backend = await initBackend(backendName);
    for (const c of cases) {
      const model = c.build();
      const gflop = forwardFlops(model) / 1e9;
      const context = (extra: Record<string, unknown>): Omit<BenchResult, 'metric' | 'value' | 'unit'> => ({
        backend: backend.name, threads: backend.threads, simd: backend.simd, cores: cpus().length,
        load_avg_1m: Number(loadavg()[0]?.toFixed(2)), ...extra,
      });
      // Inference, batch 1 on cpu (slow), 5 slices / 1 volume on wasm.
      const inferBatch = backendName === 'cpu' ? 1 : c.model === 'bcdunet' ? 5 : 1;
      const x = c.input(inferBatch);
      tf.tidy(() => void (model.predict(x) as tf.Tensor).dataSync());
      const infer = time(backendName === 'cpu' ? 1 : reps, () => tf.tidy(() => void (model.predict(x) as tf.Tensor).dataSync()));
      x.dispose();
      yield {
        metric: `${c.model}.infer.${c.unit}_per_s`, value: inferBatch / infer.seconds, unit: `${c.unit}/s`,
        ...context({ batch: inferBatch, gflop_per_s: (gflop * inferBatch) / infer.seconds, cpu_seconds_per_batch: infer.cpuSeconds }),
      };
      // Training = 3 × forward: skip on cpu when it would exceed a minute.
      const predicted = 3 * infer.seconds * (c.trainBatch / inferBatch);
      if (backendName === 'cpu' && predicted > 60) {
        yield {
          metric: `${c.model}.train.${c.unit}_per_s`, value: c.trainBatch / predicted, unit: `${c.unit}/s`,
          ...context({ batch: c.trainBatch, estimated: true, note: `not run: one step would take ~${predicted.toFixed(0)} s (3 x forward)` }),
        };
        model.dispose();
        continue;
      }
      const xb = c.input(c.trainBatch);
      const yb = c.target(c.trainBatch);
      const optimizer = tf.train.adam(1e-4);
      const step = () => tf.tidy(() => void optimizer.minimize(() => c.loss(yb, model.apply(xb, { training: true }) as tf.Tensor), true)?.dataSync());
      step();
      const train = time(reps, step);
      yield {
        metric: `${c.model}.train.${c.unit}_per_s`, value: c.trainBatch / train.seconds, unit: `${c.unit}/s`,
        ...context({ batch: c.trainBatch, gflop_per_s: (3 * gflop * c.trainBatch) / train.seconds, cpu_seconds_per_step: train.cpuSeconds,
          cpu_bound_items_per_s: c.trainBatch / train.cpuSeconds }),
      };
      optimizer.dispose();
      tf.dispose([xb, yb]);
      model.dispose();
      if (backendName === 'wasm' && availableParallelism() > 1) {
        // The same step, data-parallel on worker threads (the real training entry points).
        const workers = availableParallelism();
        const steps = quick ? 2 : 4;
        const stamps: number[] = [];
        const onProgress = (_p: TrainProgress) => void stamps.push(performance.now());
        const rng = mulberry32(7);
        const c0 = process.cpuUsage();
        if (c.model === 'bcdunet') {
          const count = c.trainBatch * (steps + 1);
          const data = { data: Float32Array.from({ length: count * 128 * 128 }, () => rng()), count, height: 128, width: 128 };
          await trainDenoiser({ config: paper.models.bcdunet, initialWeights: null, data, epochs: 1, batchSize: c.trainBatch, learningRate: 1e-3, seed: 1, workers, onProgress });
        } else {
          const data = Array.from({ length: c.trainBatch * (steps + 1) }, (_, i) => ({
            data: Float32Array.from({ length: 50 * 128 * 128 }, () => rng() * 0.4 - 0.2), shape: [50, 128, 128] as [number, number, number], label: i % 3,
          }));
          await trainClassifier({ config: paper.models.cnn3d, initialWeights: null, data, epochs: 1, batchSize: c.trainBatch, learningRate: 1e-4, seed: 1, workers, onProgress });
        }
        const cpu = process.cpuUsage(c0);
        // Steps after the first (which includes warm-up), timed between progress reports.
        const seconds = ((stamps[stamps.length - 1] ?? 0) - (stamps[0] ?? 0)) / 1000 / Math.max(1, stamps.length - 1);
        yield {
          metric: `${c.model}.train.${c.unit}_per_s`, value: c.trainBatch / seconds, unit: `${c.unit}/s`,
          ...context({ threads: workers, parallel: 'worker threads', batch: c.trainBatch, gflop_per_s: (3 * gflop * c.trainBatch) / seconds,
            process_cpu_seconds_total: (cpu.user + cpu.system) / 1e6 }),
        };
      }
    }
  }
};
export default run;
