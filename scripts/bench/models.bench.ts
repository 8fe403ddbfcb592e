/**
 * `npm run bench -- models [--json] [--quick] [--vs-pytorch]`: training and inference speed of the two
 * networks at paper size (BCDU-Net: Adam steps on batches of 5 slices of 128 × 128; 3-D CNN: batches of 2
 * volumes of 50 × 128 × 128), on
 * 1. fedct's default backend (native where the addon built, else wasm) with `FEDCT_THREADS` or every core;
 * 2. with `--vs-pytorch`, right after it, the same networks, batches, losses and optimizer in PyTorch
 *    (scripts/bench/pytorch-peer.py) on the same number of threads, and the ratios fedct / PyTorch
 *    (`<model>.train.ratio_vs_pytorch`, `<model>.infer.ratio_vs_pytorch`; > 1 means fedct is faster);
 * 3. wasm alone (one thread per kernel) as a peer row, and without `--quick` also wasm with data-parallel
 *    worker threads and pure-JS `cpu` (inference; training only where a step fits in a minute).
 * GFLOP/s use the spec's counts (forward 10.2 GFLOP per slice, 6.5 per study; training = 3 × forward).
 * Every row carries the CPU model, core and thread counts, the 1-minute load average and, on Linux,
 * `others_cpu_share`: the share of the machine's CPU time that other processes used while it was measured.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  createBcduNet, createCnn3d, forwardFlops, initBackend, loadProfile, mulberry32, trainClassifier, trainDenoiser,
  type BackendInfo, type TrainProgress,
} from '@fedct/pipeline';
import { runPytorchPeer, speedRatio, type PeerRequest } from './pytorch-peer';
import type { BenchResult, BenchSuite } from './types';

type Context = Omit<BenchResult, 'metric' | 'value' | 'unit'>;
type ModelName = 'bcdunet' | 'cnn3d';

interface Timing {
  /** Wall seconds per call. */
  seconds: number;
  /** This process' CPU seconds (all threads) per call. */
  cpuSeconds: number;
  /** Share of the machine's CPU time used by other processes meanwhile; null where /proc/stat is missing. */
  othersCpuShare: number | null;
}

/** Busy CPU seconds of the whole machine since boot (all cores), from /proc/stat; null off Linux. */
function machineBusySeconds(): number | null {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    return (user + nice + system + irq + softirq + steal) / 100;
  } catch {
    return null;
  }
}

function time(reps: number, fn: () => void): Timing {
  const b0 = machineBusySeconds();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) fn();
  const cpu = process.cpuUsage(c0);
  const wall = (performance.now() - t0) / 1000;
  const own = (cpu.user + cpu.system) / 1e6;
  const b1 = machineBusySeconds();
  const others = b0 === null || b1 === null ? null : Math.max(0, (b1 - b0 - own) / (wall * availableParallelism()));
  return { seconds: wall / reps, cpuSeconds: own / reps, othersCpuShare: others === null ? null : Number(others.toFixed(2)) };
}

/** What every row says about the machine. */
function machine(): Context {
  return { cpu_model: cpus()[0]?.model.trim() ?? 'unknown', cores: availableParallelism(), load_avg_1m: Number(loadavg()[0]?.toFixed(2)) };
}

/** oneDNN threads for the default backend: `FEDCT_THREADS` if set, else every core. */
function fedctThreads(): number {
  const raw = process.env.FEDCT_THREADS;
  if (raw === undefined) return availableParallelism();
  const n = Number(raw);
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`Invalid configuration: FEDCT_THREADS must be a positive integer, got "${raw}"`);
  return n;
}

interface Case {
  model: ModelName;
  unit: 'slices' | 'volumes';
  build: () => tfl.LayersModel;
  input: (batch: number) => tf.Tensor;
  target: (batch: number) => tf.Tensor;
  loss: (y: tf.Tensor, p: tf.Tensor) => tf.Scalar;
  trainBatch: number;
  inferBatch: number;
}

const paper = loadProfile('paper');
const LEARNING_RATE = 1e-4;

const CASES: Case[] = [
  {
    model: 'bcdunet', unit: 'slices', trainBatch: 5, inferBatch: 5,
    build: () => createBcduNet(paper.models.bcdunet, { seed: 1 }),
    input: (b) => tf.randomUniform([b, 128, 128, 1], 0, 1, 'float32', 1),
    target: (b) => tf.randomUniform([b, 128, 128, 1], 0, 1, 'float32', 2),
    loss: (y, p) => tf.mean(tfl.metrics.binaryCrossentropy(y, p)),
  },
  {
    model: 'cnn3d', unit: 'volumes', trainBatch: 2, inferBatch: 1,
    build: () => createCnn3d(paper.models.cnn3d, { seed: 1 }),
    input: (b) => tf.randomUniform([b, 50, 128, 128, 1], -0.2, 0.2, 'float32', 3),
    target: (b) => tf.oneHot(tf.tensor1d(Array.from({ length: b }, (_, i) => i % 3), 'int32'), 3),
    loss: (y, p) => tf.mean(tfl.metrics.categoricalCrossentropy(y, p)),
  },
];

/** Figures of one backend's run that the PyTorch comparison needs, per model. */
interface Figures {
  params: Map<ModelName, number>;
  gflop: Map<ModelName, number>;
  /** `<model>.<train|infer>` → items per second. */
  speed: Map<string, number>;
}

/**
 * Inference (one untimed pass, then `reps`) and training (one untimed step, then `reps`) of both
 * networks on the running backend. `slow` (pure-JS cpu): batch 1 inference, one rep, and training only
 * where a step is predicted (3 × forward) to take under a minute.
 */
async function* measureBackend(backend: BackendInfo, reps: number, slow: boolean, figures: Figures): AsyncGenerator<BenchResult> {
  for (const c of CASES) {
    const model = c.build();
    const gflop = forwardFlops(model) / 1e9;
    figures.params.set(c.model, model.countParams());
    figures.gflop.set(c.model, gflop);
    const context = (t: Timing | null, extra: Context): Context => ({
      backend: backend.name, threads: backend.threads, simd: backend.simd, ...machine(),
      ...(t?.othersCpuShare != null ? { others_cpu_share: t.othersCpuShare } : {}), ...extra,
    });
    const inferBatch = slow ? 1 : c.inferBatch;
    const x = c.input(inferBatch);
    const predict = () => tf.tidy(() => void (model.predict(x) as tf.Tensor).dataSync());
    predict();
    const infer = time(slow ? 1 : reps, predict);
    x.dispose();
    figures.speed.set(`${c.model}.infer`, inferBatch / infer.seconds);
    yield {
      metric: `${c.model}.infer.${c.unit}_per_s`, value: inferBatch / infer.seconds, unit: `${c.unit}/s`,
      ...context(infer, { batch: inferBatch, gflop_per_s: (gflop * inferBatch) / infer.seconds, cpu_seconds_per_batch: infer.cpuSeconds }),
    };
    const predicted = 3 * infer.seconds * (c.trainBatch / inferBatch);
    if (slow && predicted > 60) {
      yield {
        metric: `${c.model}.train.${c.unit}_per_s`, value: c.trainBatch / predicted, unit: `${c.unit}/s`,
        ...context(null, { batch: c.trainBatch, estimated: true, note: `not run: one step would take ~${predicted.toFixed(0)} s (3 x forward)` }),
      };
      model.dispose();
      continue;
    }
    const xb = c.input(c.trainBatch);
    const yb = c.target(c.trainBatch);
    const optimizer = tf.train.adam(LEARNING_RATE);
    const step = () => tf.tidy(() => void optimizer.minimize(() => c.loss(yb, model.apply(xb, { training: true }) as tf.Tensor), true)?.dataSync());
    step();
    const train = time(slow ? 1 : reps, step);
    figures.speed.set(`${c.model}.train`, c.trainBatch / train.seconds);
    yield {
      metric: `${c.model}.train.${c.unit}_per_s`, value: c.trainBatch / train.seconds, unit: `${c.unit}/s`,
      ...context(train, { batch: c.trainBatch, gflop_per_s: (3 * gflop * c.trainBatch) / train.seconds, cpu_seconds_per_step: train.cpuSeconds,
        cpu_bound_items_per_s: c.trainBatch / train.cpuSeconds }),
    };
    optimizer.dispose();
    tf.dispose([xb, yb]);
    model.dispose();
  }
}

/** The real training entry points on wasm, data-parallel over `workers` worker threads, timed between progress reports. */
async function* measureWasmWorkers(backend: BackendInfo, steps: number, figures: Figures): AsyncGenerator<BenchResult> {
  const workers = availableParallelism();
  for (const c of CASES) {
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
      await trainClassifier({ config: paper.models.cnn3d, initialWeights: null, data, epochs: 1, batchSize: c.trainBatch, learningRate: LEARNING_RATE, seed: 1, workers, onProgress });
    }
    const cpu = process.cpuUsage(c0);
    // Steps after the first (which includes warm-up).
    const seconds = ((stamps[stamps.length - 1] ?? 0) - (stamps[0] ?? 0)) / 1000 / Math.max(1, stamps.length - 1);
    yield {
      metric: `${c.model}.train.${c.unit}_per_s`, value: c.trainBatch / seconds, unit: `${c.unit}/s`,
      backend: backend.name, threads: workers, parallel: 'worker threads', ...machine(), batch: c.trainBatch,
      gflop_per_s: (3 * (figures.gflop.get(c.model) ?? 0) * c.trainBatch) / seconds, process_cpu_seconds_total: (cpu.user + cpu.system) / 1e6,
    };
  }
}

/**
 * PyTorch on the same networks and threads, then the ratios to fedct's default backend. Throws
 * (PeerError) when PyTorch's networks do not have tfjs' parameter counts.
 */
async function* measurePytorch(backend: BackendInfo, threads: number, reps: number, fedct: Figures): AsyncGenerator<BenchResult> {
  const network = (c: Case) => ({ trainBatch: c.trainBatch, inferBatch: c.inferBatch, params: fedct.params.get(c.model) ?? 0 });
  const [bcdu, cnn] = CASES as [Case, Case];
  const request: PeerRequest = {
    threads, steps: reps, inferReps: reps, warmup: 1, learningRate: LEARNING_RATE,
    bcdunet: { ...paper.models.bcdunet, ...network(bcdu) },
    cnn3d: { ...paper.models.cnn3d, ...network(cnn) },
  };
  const output = await runPytorchPeer(request);
  if (output.unavailable !== null) {
    yield { metric: 'pytorch.available', value: 0, unit: '', backend: 'pytorch', threads, ...machine(), note: output.unavailable };
    return;
  }
  const torch = String(output.info.torch ?? '?');
  const speed = new Map<string, number>();
  for (const r of output.results) {
    const { metric, value, unit, model, threads: torchThreads, ...extra } = r;
    const name = model as ModelName;
    const kind = metric.split('.')[1];
    const per = kind === 'train' ? 3 : 1;
    speed.set(`${name}.${kind}`, value);
    const params = output.params.find((p) => p.model === name);
    yield {
      metric, value, unit, backend: 'pytorch', threads: torchThreads, ...machine(), torch, ...extra,
      gflop_per_s: per * (fedct.gflop.get(name) ?? 0) * value, params: params?.torch,
    };
  }
  for (const c of CASES) {
    for (const kind of ['train', 'infer'] as const) {
      const key = `${c.model}.${kind}`;
      const ratio = speedRatio(fedct.speed.get(key), speed.get(key));
      if (ratio === null) continue;
      yield {
        metric: `${key}.ratio_vs_pytorch`, value: ratio, unit: 'x', backend: backend.name, ...machine(),
        fedct_threads: backend.threads, pytorch_threads: threads, fedct: fedct.speed.get(key), pytorch: speed.get(key), torch,
        ...(backend.name === 'native' ? {} : { note: `fedct's default backend here is ${backend.name}` }),
      };
    }
  }
}

const run: BenchSuite = async function* ({ quick, flags }) {
  const vsPytorch = flags.includes('--vs-pytorch');
  const threads = fedctThreads();
  // The same number of timed reps for fedct and PyTorch, each after one untimed warm-up.
  const reps = quick ? 2 : 5;
  const backend = await initBackend('auto', { threads });
  const figures: Figures = { params: new Map(), gflop: new Map(), speed: new Map() };
  yield* measureBackend(backend, reps, false, figures);
  if (vsPytorch) yield* measurePytorch(backend, threads, reps, figures);
  if (backend.name !== 'wasm') {
    const wasm = await initBackend('wasm');
    yield* measureBackend(wasm, quick ? 1 : 3, false, { params: new Map(), gflop: new Map(), speed: new Map() });
  }
  if (quick) return;
  if (availableParallelism() > 1) yield* measureWasmWorkers(await initBackend('wasm'), 4, figures);
  yield* measureBackend(await initBackend('cpu'), 1, true, { params: new Map(), gflop: new Map(), speed: new Map() });
};
export default run;
