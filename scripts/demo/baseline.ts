import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeModelBlob, encodeModelBlob, scheduledLearningRate, sha256Hex, type LearningRateSchedule, type ModelBlob } from '@fedct/protocol';
import type { LabelledVolume } from '@fedct/pipeline';
import type { InfectionSize } from '@fedct/site-agent';
import { createDemoEngine, type DemoEngine } from './engine';
import { DemoError } from './errors';

/**
 * One baseline of the demo report (a hospital alone, or every hospital's studies pooled), trained in
 * its own process so that the baselines run side by side, one per core, instead of one after the
 * other with data-parallel threads (which scale badly at the tiny profile's sizes).
 * Written by the demo as JSON, read by `baseline-process.ts`.
 */
export interface BaselineJob {
  name: string;
  /** Site folders whose `train` infection volumes are the training data (the daemons cached them). */
  siteDirs: string[];
  /** Files of the federated denoiser (frozen, for the infection maps) and classifier (its sizes). */
  denoiserFile: string;
  classifierFile: string;
  mapSize: InfectionSize;
  /** The federated classifier phase's schedule: the same rounds, local epochs and learning rates. */
  rounds: number;
  localEpochs: number;
  batchSize: number;
  learningRate: number;
  learningRateSchedule: LearningRateSchedule;
  classBalanced: boolean;
  flipAugment: boolean;
  seed: number;
  /** Where the trained classifier's blob goes. */
  outFile: string;
}

/** What a finished baseline process leaves beside its weights. */
export interface BaselineOutcome {
  trainStudies: number;
  epochs: number;
  trainMs: number;
}

/**
 * Trains the baseline as the federated classifier phase trains: its rounds, local epochs per round,
 * the round's learning rate, a fresh optimiser each round with the model carried over, from the same
 * seeded initial weights. One thread (`workers: 1`, one oneDNN thread): the demo runs baselines side
 * by side.
 */
export async function trainBaseline(engine: DemoEngine, job: BaselineJob, print: (line: string) => void): Promise<{ weights: ModelBlob; outcome: BaselineOutcome }> {
  const started = Date.now();
  const denoiserBytes = new Uint8Array(readFileSync(job.denoiserFile));
  const denoiser = { blob: decodeModelBlob(denoiserBytes), sha256: sha256Hex(denoiserBytes) };
  const like = decodeModelBlob(new Uint8Array(readFileSync(job.classifierFile)));
  const volumes: LabelledVolume[] = [];
  for (const dir of job.siteDirs) volumes.push(...(await engine.siteVolumes(dir, denoiser, 'train', job.mapSize)));
  if (volumes.length === 0) throw new DemoError(`baseline ${job.name}: no training studies in ${job.siteDirs.join(', ')}`);
  const epochs = job.rounds * job.localEpochs;
  let weights: ModelBlob | null = null;
  for (let round = 1; round <= job.rounds; round++) {
    weights = await engine.trainClassifier({
      like,
      initialWeights: weights,
      initSeed: job.seed,
      seed: job.seed * 1000 + round,
      volumes,
      epochs: job.localEpochs,
      batchSize: job.batchSize,
      learningRate: scheduledLearningRate(job.learningRate, job.learningRateSchedule, round, job.rounds),
      classBalanced: job.classBalanced,
      flipAugment: job.flipAugment,
      workers: 1,
      onEpoch: (epoch, _total, loss) => {
        const done = (round - 1) * job.localEpochs + epoch;
        if (done % 4 === 0 || done === epochs) print(`epoch ${done}/${epochs}, loss ${loss.toFixed(3)} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
      },
    });
  }
  if (!weights) throw new DemoError('the classifier phase has no rounds');
  return { weights, outcome: { trainStudies: volumes.length, epochs, trainMs: Date.now() - started } };
}

/** Runs a job file in this process (the baseline process's body); writes the blob and `OUT.json`. */
export async function runBaselineJob(jobFile: string, print: (line: string) => void): Promise<void> {
  const job = JSON.parse(readFileSync(jobFile, 'utf8')) as BaselineJob;
  const engine = await createDemoEngine({ threads: 1 });
  try {
    const { weights, outcome } = await trainBaseline(engine, job, print);
    writeFileSync(job.outFile, encodeModelBlob(weights));
    writeFileSync(`${job.outFile}.json`, `${JSON.stringify(outcome)}\n`);
  } finally {
    engine.dispose();
  }
}

/** The job file of one baseline in `dir`. */
export function baselineJobFile(dir: string, name: string): string {
  return join(dir, `${name}.job.json`);
}
