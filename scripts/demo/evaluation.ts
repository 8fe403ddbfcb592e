import { join } from 'node:path';
import { decodeModelBlob, scheduledLearningRate, sha256Hex, type ModelBlob } from '@fedct/protocol';
import { preprocessPath } from '@fedct/pipeline';
import type { InfectionSize } from '@fedct/site-agent';
import type { DemoSettings } from './demo-settings';
import { DemoError } from './errors';
import { createDemoEngine, type DemoEngine, type Evaluation, type InfectionVolume } from './engine';
import { planPhantoms, type PhantomJob } from './hospitals';
import type { ReportImage } from './report/html';
import { rocCurve } from './report/metrics';
import { sliceWithInfectionPng } from './report/png';
import { CLASS_NAMES, type BaselineResult, type TestMetrics } from './report/report.types';

export interface EvaluationInput {
  profile: string;
  settings: DemoSettings;
  dataRoot: string;
  /** Folder of the hospitals' site folders (`sitesRoot/NAME`). */
  sitesRoot: string;
  /** Encoded blobs of the published federated models. */
  denoiserBlob: Uint8Array;
  classifierBlob: Uint8Array;
  print: (line: string) => void;
}

export interface EvaluationResult {
  backend: string;
  inputShape: [number, number, number];
  federated: TestMetrics;
  singleSite: BaselineResult[];
  centralized: BaselineResult;
  images: ReportImage[];
  timingsMs: { federatedEvaluation: number; baselines: number };
}

interface LabelledInfection extends InfectionVolume {
  label: number;
  owner: string;
}

/** The report's metrics from the pipeline's evaluation (its §6 numbers) plus the ROC points to plot. */
export function toTestMetrics(evaluation: Evaluation, labels: readonly number[]): TestMetrics {
  const m = evaluation.metrics;
  const perClass = {} as TestMetrics['perClass'];
  for (const c of CLASS_NAMES) perClass[c] = { precision: m.perClass[c].precision, recall: m.perClass[c].recall, f1: m.perClass[c].f1 };
  return {
    n: m.count,
    accuracy: m.accuracy,
    accuracyCovidVsRest: m.covidVsRestAccuracy,
    auc: m.aucCovid,
    aucMacro: m.aucMacro,
    aucMicro: m.aucMicro,
    sensitivity: m.covidSensitivity,
    specificity: m.covidSpecificity,
    confusion: m.confusion,
    perClass,
    roc: rocCurve(
      evaluation.probabilities.map((p) => p[1] ?? 0),
      labels.map((l) => l === 1),
    ),
  };
}

/** Label index of a class name (spec §5: 0 control, 1 covid-19, 2 cap). */
const labelOf = (cls: (typeof CLASS_NAMES)[number]): number => CLASS_NAMES.indexOf(cls);

/**
 * Reads each external study from its DICOM folder with the same preprocessing as `fedct-site import`
 * (spec §1) and turns it into an infection volume with the given frozen denoiser (spec §4). The
 * model-ready volume is dropped at once; only the small infection volume is kept.
 */
async function infectionVolumes(engine: DemoEngine, denoiser: ModelBlob, input: InfectionSize, jobs: readonly PhantomJob[], onSample?: (job: PhantomJob, volume: { data: Float32Array; shape: [number, number, number] }, infection: InfectionVolume) => void): Promise<LabelledInfection[]> {
  const out: LabelledInfection[] = [];
  for (const job of jobs) {
    const volume = await preprocessPath(job.dir);
    const infection = await engine.extractInfection(denoiser, volume, input);
    onSample?.(job, volume, infection);
    out.push({ ...infection, label: labelOf(job.cls), owner: job.owner });
  }
  return out;
}

async function testMetrics(engine: DemoEngine, classifier: ModelBlob, test: readonly LabelledInfection[]): Promise<TestMetrics> {
  return toTestMetrics(await engine.evaluate(classifier, test), test.map((t) => t.label));
}

/** Nearest-neighbour resize of one slice (display only). */
function resizeSlice(data: Float32Array, h: number, w: number, toH: number, toW: number): Float32Array {
  if (h === toH && w === toW) return data;
  const out = new Float32Array(toH * toW);
  for (let y = 0; y < toH; y++) for (let x = 0; x < toW; x++) out[y * toW + x] = data[Math.floor((y * h) / toH) * w + Math.floor((x * w) / toW)] ?? 0;
  return out;
}

/**
 * Evaluates the federated model on the external hospital's studies and trains, in-process, the two
 * baselines on the hospitals' own infection volumes (read from their site folders: the data each
 * daemon trained on): each hospital alone and all hospitals pooled, each in the federated classifier's
 * rounds (local epochs per round, the round's learning rate, a fresh optimiser per round, the model
 * carried over), from the same initial seed.
 * Everything is measured on the same external test set.
 */
export async function evaluateDemo(input: EvaluationInput): Promise<EvaluationResult> {
  const t0 = Date.now();
  const engine = await createDemoEngine();
  try {
    return await evaluateWith(engine, input, t0);
  } finally {
    engine.dispose();
  }
}

async function evaluateWith(engine: DemoEngine, input: EvaluationInput, t0: number): Promise<EvaluationResult> {
  const { settings, print } = input;
  const denoiser = decodeModelBlob(input.denoiserBlob);
  const classifier = decodeModelBlob(input.classifierBlob);
  const [classifierDepth, size] = engine.classifierInputShape(classifier);
  const mapSize = { depth: classifierDepth, size };
  const jobs = planPhantoms(settings, input.dataRoot);
  const images: ReportImage[] = [];
  const wanted = new Set<string>();
  const sampleClasses = ['covid-19', 'cap', 'control'] as const;
  const testJobs = jobs.filter((j) => j.split === 'test');
  for (let i = 0; i < settings.samples; i++) {
    const cls = sampleClasses[i % sampleClasses.length];
    const job = testJobs.filter((j) => j.cls === cls)[Math.floor(i / sampleClasses.length)];
    if (job) wanted.add(job.dir);
  }
  print(`  preprocessing ${testJobs.length} external studies and extracting infection volumes with the federated denoiser ...`);
  const test = await infectionVolumes(engine, denoiser, mapSize, testJobs, (job, volume, infection) => {
    if (!wanted.has(job.dir)) return;
    const [depth, h, w] = infection.shape;
    const z = Math.floor(depth / 2);
    const [vd, vh, vw] = volume.shape;
    const vz = Math.min(vd - 1, Math.floor(((z + 0.5) * vd) / depth));
    const slice = resizeSlice(volume.data.subarray(vz * vh * vw, (vz + 1) * vh * vw), vh, vw, h, w);
    const residual = infection.data.subarray(z * h * w, (z + 1) * h * w);
    images.push({ title: `${job.cls} (external, seed ${job.seed}), slice ${z + 1}/${depth}`, dataUri: sliceWithInfectionPng({ title: job.cls, slice, residual, height: h, width: w }) });
  });
  const federated = await testMetrics(engine, classifier, test);
  print(`  federated model: accuracy ${(federated.accuracy * 100).toFixed(1)} %, AUC Covid-19 ${federated.auc.toFixed(3)}`);
  const t1 = Date.now();

  print('  baselines: reading each hospital\'s own infection volumes (the ones its daemon trained on) ...');
  const denoiserRef = { blob: denoiser, sha256: sha256Hex(input.denoiserBlob) };
  const train: LabelledInfection[] = [];
  for (const h of settings.hospitals) {
    const volumes = await engine.siteVolumes(join(input.sitesRoot, h.name), denoiserRef, 'train', mapSize);
    train.push(...volumes.map((v) => ({ ...v, owner: h.name })));
  }
  const { rounds, localEpochs } = settings.classifier;
  const epochs = rounds * localEpochs;
  const baseline = async (name: string, data: readonly LabelledInfection[]): Promise<BaselineResult> => {
    const started = Date.now();
    // The federated classifier's rounds, learning rates and optimiser restarts, on one data set.
    let weights: ModelBlob | null = null;
    for (let round = 1; round <= rounds; round++) {
      weights = await engine.trainClassifier({
        like: classifier,
        initialWeights: weights,
        initSeed: settings.seed,
        seed: settings.seed * 1000 + round,
        volumes: data,
        epochs: localEpochs,
        batchSize: settings.classifier.batchSize,
        learningRate: scheduledLearningRate(settings.classifier.learningRate, settings.classifier.learningRateSchedule, round, rounds),
        classBalanced: settings.classifier.classBalanced,
        flipAugment: settings.classifier.flipAugment,
        // The daemons are stopped by now: both cores are free for the baselines.
        workers: 2,
        onEpoch: (epoch, _total, loss) => {
          const done = (round - 1) * localEpochs + epoch;
          if (done % 4 === 0 || done === epochs) print(`  ${name}: epoch ${done}/${epochs}, loss ${loss.toFixed(3)} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
        },
      });
    }
    if (!weights) throw new DemoError('the classifier phase has no rounds');
    const trainMs = Date.now() - started;
    const metrics = await testMetrics(engine, weights, test);
    print(`  ${name}: ${data.length} studies, ${epochs} epochs, ${(trainMs / 1000).toFixed(1)} s → accuracy ${(metrics.accuracy * 100).toFixed(1)} %`);
    return { name, epochs, trainStudies: data.length, trainMs, test: metrics };
  };
  const singleSite: BaselineResult[] = [];
  for (const h of settings.hospitals) singleSite.push(await baseline(h.name, train.filter((v) => v.owner === h.name)));
  const centralized = await baseline('pooled', train);
  return {
    backend: engine.backend,
    inputShape: engine.classifierInputShape(classifier),
    federated,
    singleSite,
    centralized,
    images,
    timingsMs: { federatedEvaluation: t1 - t0, baselines: Date.now() - t1 },
  };
}
