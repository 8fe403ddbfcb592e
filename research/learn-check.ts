/**
 * `node scripts/run-ts.js research/learn-check.ts [--train N] [--test N] [--seed S]`: the whole
 * CovidCTNet recipe at the tiny profile, trained centrally on phantom studies, evaluated on held-out
 * phantoms. Prints one JSON object (accuracy, confusion, timings) and exits 1 when the held-out
 * accuracy is below 0.9. `--seed 1` is what libs/pipeline/src/train/learns.spec.ts runs; other seeds
 * draw other phantoms and initial weights (see docs/research/does-it-learn.md).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  evaluateClassifier, extractInfection, generatePhantomStudy, initBackend, loadProfile, preprocessStudy,
  trainClassifier, trainDenoiser, type LabelledVolume,
} from '@fedct/pipeline';
import { CLASS_INDEX, type ClassName } from '@fedct/protocol';
import { parseArgs } from './args';

interface Study { label: number; data: Float32Array; shape: [number, number, number] }

/** The draw (training) order of libs/pipeline/src/train/learns.spec.ts, so that seed 1 repeats its run; labels stay the protocol's indices. */
const DRAW_ORDER: readonly ClassName[] = ['control', 'cap', 'covid-19'];

async function phantoms(perClass: number, firstSeed: number): Promise<Study[]> {
  const out: Study[] = [];
  for (let i = 0; i < perClass; i++) {
    for (const cls of DRAW_ORDER) {
      // Thin phantoms (10 source slices of 8 mm): the anatomy scales to them.
      const v = await preprocessStudy(generatePhantomStudy({ cls, seed: firstSeed + i, slices: 10 }));
      out.push({ label: CLASS_INDEX[cls], data: v.data, shape: v.shape });
    }
  }
  return out;
}

async function main(): Promise<void> {
  const { options } = parseArgs({
    usage: 'node scripts/run-ts.js research/learn-check.ts [options]',
    options: {
      train: { type: 'number', default: 8, help: 'training phantoms per class' },
      test: { type: 'number', default: 4, help: 'held-out phantoms per class' },
      seed: { type: 'number', default: 1, help: 'phantom seeds (100·S on) and training seed; 1 is what learns.spec.ts runs' },
    },
  });
  const { train: trainPerClass, test: testPerClass, seed } = options;
  await initBackend();
  const profile = loadProfile('tiny');
  const { bcdunet, cnn3d } = profile.models;
  const t0 = performance.now();
  const train = await phantoms(trainPerClass, 100 * seed);
  const test = await phantoms(testPerClass, 100 * seed + 50);
  const t1 = performance.now();
  const size = 128 * 128;
  const controls = train.filter((s) => s.label === CLASS_INDEX.control).flatMap((s) => Array.from({ length: s.shape[0] }, (_, k) => s.data.subarray(k * size, (k + 1) * size)));
  const slices = new Float32Array(controls.length * size);
  controls.forEach((s, i) => slices.set(s, i * size));
  const d = profile.training.denoiser;
  const denoiser = await trainDenoiser({
    config: bcdunet, initialWeights: null, data: { data: slices, count: controls.length, height: 128, width: 128 },
    epochs: d.epochs, batchSize: d.batchSize, learningRate: d.learningRate, seed, workers: 2,
  });
  const t2 = performance.now();
  const infection = async (s: Study): Promise<LabelledVolume> => {
    const v = await extractInfection({ denoiser: denoiser.weights, volume: s.data, shape: s.shape, depth: cnn3d.inputShape[0], batchSize: 32 });
    return { data: v.data, shape: v.shape, label: s.label };
  };
  const trainSet: LabelledVolume[] = [];
  for (const s of train) trainSet.push(await infection(s));
  const testSet: LabelledVolume[] = [];
  for (const s of test) testSet.push(await infection(s));
  const t3 = performance.now();
  const c = profile.training.classifier;
  const classifier = await trainClassifier({
    config: cnn3d, initialWeights: null, data: trainSet, epochs: c.epochs, batchSize: c.batchSize, learningRate: c.learningRate,
    seed: seed + 1, workers: 2, flipAugment: true,
  });
  const t4 = performance.now();
  const result = await evaluateClassifier({ weights: classifier.weights, data: testSet });
  const out = {
    accuracy: result.metrics.accuracy, confusion: result.metrics.confusion, aucCovid: result.metrics.aucCovid,
    denoiserLoss: denoiser.metrics.loss, classifierLoss: classifier.metrics.loss, trainStudies: train.length, testStudies: test.length,
    seconds: { phantoms: (t1 - t0) / 1000, denoiser: (t2 - t1) / 1000, extraction: (t3 - t2) / 1000, classifier: (t4 - t3) / 1000 },
    tensors: tf.memory().numTensors,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exitCode = result.metrics.accuracy >= 0.9 ? 0 : 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`learn-check: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 2;
});
