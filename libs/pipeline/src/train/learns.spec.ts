/*
 * "It learns": the whole CovidCTNet recipe at the tiny profile, trained centrally on phantom studies
 * (real DICOM-pipeline volumes from the ct module), must separate Control / Covid-19 / CAP on
 * held-out phantoms. Sizes and settings come from configs/profiles/tiny.yaml. Everything is seeded
 * and the wasm backend is deterministic, so the result is the same on every run; with only 24 training
 * studies other seeds score 0.75-1.0 (docs/research/does-it-learn.md), so a change that makes
 * training worse shows up here, and `research/learn-check.ts --seed N` checks other draws.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { CLASS_INDEX, type ClassName } from '@fedct/protocol';
import { generatePhantomStudy, preprocessStudy } from '../ct';
import { loadProfile } from '../profile';
import { evaluateClassifier, trainClassifier } from './classifier';
import type { LabelledVolume } from './data';
import { extractInfection, trainDenoiser } from './denoiser';

/**
 * The order the studies are drawn in, which is the training order (not the output order): the
 * result depends on it, and this is the draw the test's accuracy was measured on.
 */
const DRAW_ORDER: readonly ClassName[] = ['control', 'cap', 'covid-19'];
const TRAIN_PER_CLASS = 8;
const TEST_PER_CLASS = 4;
/** Thin phantoms (10 source slices of 8 mm) keep the test in seconds; the anatomy scales to them. */
const SOURCE_SLICES = 10;

interface Study { label: number; data: Float32Array; shape: [number, number, number] }

async function phantoms(perClass: number, firstSeed: number): Promise<Study[]> {
  const out: Study[] = [];
  for (let i = 0; i < perClass; i++) {
    for (const cls of DRAW_ORDER) {
      const v = await preprocessStudy(generatePhantomStudy({ cls, seed: firstSeed + i, slices: SOURCE_SLICES }));
      out.push({ label: CLASS_INDEX[cls], data: v.data, shape: v.shape });
    }
  }
  return out;
}

describe('CovidCTNet at the tiny profile', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('learns to separate Control, Covid-19 and CAP on held-out phantom studies (accuracy >= 0.9)', async () => {
    const profile = loadProfile('tiny');
    const { bcdunet, cnn3d } = profile.models;
    const train = await phantoms(TRAIN_PER_CLASS, 100);
    const test = await phantoms(TEST_PER_CLASS, 150);
    const before = tf.memory().numTensors;

    // Phase 1: the denoiser on every slice of the training Control studies.
    const size = 128 * 128;
    const controlSlices = train.filter((s) => s.label === CLASS_INDEX.control)
      .flatMap((s) => Array.from({ length: s.shape[0] }, (_, k) => s.data.subarray(k * size, (k + 1) * size)));
    const slices = new Float32Array(controlSlices.length * size);
    controlSlices.forEach((s, i) => slices.set(s, i * size));
    const d = profile.training.denoiser;
    const denoiser = await trainDenoiser({
      config: bcdunet, initialWeights: null, data: { data: slices, count: controlSlices.length, height: 128, width: 128 },
      epochs: d.epochs, batchSize: d.batchSize, learningRate: d.learningRate, seed: 1, workers: 2,
    });
    expect(denoiser.metrics.loss).toBeLessThan(0.5);

    // Phase 2: infection volumes, then the classifier.
    const depth = cnn3d.inputShape[0];
    const infection = async (s: Study): Promise<LabelledVolume> => {
      const v = await extractInfection({ denoiser: denoiser.weights, volume: s.data, shape: s.shape, depth, batchSize: 32 });
      return { data: v.data, shape: v.shape, label: s.label };
    };
    const trainSet: LabelledVolume[] = [];
    for (const s of train) trainSet.push(await infection(s));
    const testSet: LabelledVolume[] = [];
    for (const s of test) testSet.push(await infection(s));
    const c = profile.training.classifier;
    const classifier = await trainClassifier({
      config: cnn3d, initialWeights: null, data: trainSet, epochs: c.epochs, batchSize: c.batchSize, learningRate: c.learningRate,
      seed: 2, workers: 2, flipAugment: true,
    });
    const result = await evaluateClassifier({ weights: classifier.weights, data: testSet });
    expect(tf.memory().numTensors).toBe(before);
    expect(result.metrics.count).toBe(3 * TEST_PER_CLASS);
    expect(result.metrics.accuracy, `confusion ${JSON.stringify(result.metrics.confusion)}`).toBeGreaterThanOrEqual(0.9);
  }, 300_000);
});
