import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeModelBlob, type ModelBlob } from '@fedct/protocol';
import { classificationMetrics, hasBatchNorm, preprocessPath, scannerName } from '@fedct/pipeline';
import type { InfectionSize } from '@fedct/site-agent';
import { baselineJobFile, type BaselineJob, type BaselineOutcome } from './baseline';
import { mapLimit } from './concurrency';
import type { DemoSettings } from './demo-settings';
import { DemoError } from './errors';
import { createDemoEngine, type DemoEngine, type Evaluation, type InfectionVolume } from './engine';
import { planPhantoms, type PhantomJob } from './hospitals';
import type { ReportImage } from './report/html';
import { rocCurve } from './report/metrics';
import { sliceWithInfectionPng } from './report/png';
import type { Supervisor } from './supervisor';
import { CLASS_NAMES, type BaselineResult, type TestMetrics } from './report/report.types';

export interface EvaluationInput {
  profile: string;
  settings: DemoSettings;
  dataRoot: string;
  /** Folder of the hospitals' site folders (`sitesRoot/NAME`). */
  sitesRoot: string;
  /** The federated denoiser (published) and the classifier phase's initial model (its sizes and seed). */
  denoiserBlob: Uint8Array;
  initialClassifierBlob: Uint8Array;
  /** The demo's output folder (the baselines' job files and weights go to `baselines/` in it). */
  outDir: string;
  /** Starts the baseline processes; `parallel` of them at a time. */
  supervisor: Supervisor;
  parallel: number;
  print: (line: string) => void;
}

export interface EvaluationResult {
  backend: string;
  inputShape: [number, number, number];
  /** With site-local statistics when the classifier has BatchNorm and the external hospital an archive. */
  federated: TestMetrics;
  /** The federated classifier with its own (FedAvg-averaged) BatchNorm statistics; only when `federated` is calibrated. */
  federatedModelStatistics: TestMetrics | null;
  /** Studies of the external archive per scanner model that the statistics came from; null = none used. */
  calibration: Record<string, number> | null;
  singleSite: BaselineResult[];
  centralized: BaselineResult;
  images: ReportImage[];
  /**
   * testPreparation: reading the external studies into infection volumes (during the classifier
   * phase); federatedEvaluation: scoring the federated model; baselines: the longest baseline
   * process; afterFederated: from the federated model to the finished evaluation (what the classifier
   * phase did not hide); sinceStart: the whole evaluation.
   */
  timingsMs: { testPreparation: number; federatedEvaluation: number; baselines: number; afterFederated: number; sinceStart: number };
}

interface LabelledInfection extends InfectionVolume {
  label: number;
  owner: string;
  /** Manufacturer and model from the DICOM header (`scannerName`), as a site groups its studies. */
  scanner: string;
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
    out.push({ ...infection, label: labelOf(job.cls), owner: job.owner, scanner: scannerName(volume.series) });
  }
  return out;
}

/**
 * Scores a classifier on the test studies. With an archive (`calibration`), each scanner model's test
 * studies are classified by the classifier with BatchNorm statistics from the archive's studies of that
 * scanner model (`calibrateClassifier`; labels unused), as a site does before it predicts; a scanner
 * model the archive lacks keeps the model's own statistics.
 */
async function testMetrics(engine: DemoEngine, classifier: ModelBlob, test: readonly LabelledInfection[], calibration: readonly LabelledInfection[] | null): Promise<TestMetrics> {
  const labels = test.map((t) => t.label);
  if (!calibration) return toTestMetrics(await engine.evaluate(classifier, test), labels);
  const probabilities: number[][] = new Array<number[]>(test.length);
  for (const scanner of new Set(test.map((t) => t.scanner))) {
    const indices = test.flatMap((t, i) => (t.scanner === scanner ? [i] : []));
    const archive = calibration.filter((c) => c.scanner === scanner);
    const model = archive.length > 0 ? await engine.calibrate(classifier, archive) : classifier;
    const { probabilities: p } = await engine.evaluate(model, indices.map((i) => test[i] as LabelledInfection));
    indices.forEach((testIndex, k) => (probabilities[testIndex] = p[k] as number[]));
  }
  return toTestMetrics({ metrics: classificationMetrics(labels, probabilities), probabilities }, labels);
}

/** Name of the baseline trained on every hospital's studies. */
const POOLED = 'pooled';

/**
 * Trains the baselines (each hospital alone, and all pooled) in child processes, `parallel` at a
 * time, the largest first, one thread each (they run beside the site daemons of the classifier phase
 * and then beside each other). Returns them in the order hospitals…, pooled.
 */
async function runBaselines(input: EvaluationInput, mapSize: InfectionSize, hospitals: readonly string[], print: (line: string) => void): Promise<{ name: string; weights: ModelBlob; outcome: BaselineOutcome }[]> {
  const { settings } = input;
  const dir = join(input.outDir, 'baselines');
  mkdirSync(dir, { recursive: true });
  const denoiserFile = join(dir, 'denoiser.fctm');
  const classifierFile = join(dir, 'initial-classifier.fctm');
  writeFileSync(denoiserFile, input.denoiserBlob);
  writeFileSync(classifierFile, input.initialClassifierBlob);
  const c = settings.classifier;
  const job = (name: string, siteDirs: string[]): BaselineJob => ({
    name, siteDirs, denoiserFile, classifierFile, mapSize,
    rounds: c.rounds, localEpochs: c.localEpochs, batchSize: c.batchSize, learningRate: c.learningRate, learningRateSchedule: c.learningRateSchedule,
    classBalanced: c.classBalanced, flipAugment: c.flipAugment, seed: settings.seed, outFile: join(dir, `${name}.fctm`),
  });
  const jobs = [job(POOLED, hospitals.map((h) => join(input.sitesRoot, h))), ...hospitals.map((h) => job(h, [join(input.sitesRoot, h)]))];
  print(`  baselines: ${jobs.length} training processes (${hospitals.join(', ')} alone, and pooled), ${input.parallel} at a time ...`);
  await mapLimit(jobs, input.parallel, async (j) => {
    const file = baselineJobFile(dir, j.name);
    writeFileSync(file, `${JSON.stringify(j, null, 2)}\n`);
    await input.supervisor.run(`baseline-${j.name}`, 'scripts/run-ts.js', ['scripts/demo/baseline-process.ts', file], {
      timeoutMs: settings.timeoutMinutes * 60_000,
      onLine: (line) => print(`  ${j.name}: ${line}`),
    });
  });
  const order = [...hospitals, POOLED];
  return order.map((name) => {
    const j = jobs.find((x) => x.name === name) as BaselineJob;
    return { name, weights: decodeModelBlob(new Uint8Array(readFileSync(j.outFile))), outcome: JSON.parse(readFileSync(`${j.outFile}.json`, 'utf8')) as BaselineOutcome };
  });
}

/** Nearest-neighbour resize of one slice (display only). */
function resizeSlice(data: Float32Array, h: number, w: number, toH: number, toW: number): Float32Array {
  if (h === toH && w === toW) return data;
  const out = new Float32Array(toH * toW);
  for (let y = 0; y < toH; y++) for (let x = 0; x < toW; x++) out[y * toW + x] = data[Math.floor((y * h) / toH) * w + Math.floor((x * w) / toW)] ?? 0;
  return out;
}

/** The evaluation under way: test volumes being prepared and baselines training, until {@link finish}. */
export interface PendingEvaluation {
  /** Scores the federated classifier and the baselines on the external test set (waits for both). */
  finish(classifierBlob: Uint8Array): Promise<EvaluationResult>;
}

/**
 * Starts everything the report needs that does not depend on the federated classifier, so that it
 * runs while the classifier phase does: the external hospital's studies read and preprocessed as
 * `fedct-site import` does and turned into infection volumes with the federated denoiser (in this
 * process), and the baselines (child processes, {@link runBaselines}) on the hospitals' own infection
 * volumes (read from their site folders: the data each daemon trained on, cached by the daemons in
 * the classifier phase's first round). `finish` then scores the federated classifier and the
 * baselines, all on the same external test set.
 */
export function startEvaluation(input: EvaluationInput): PendingEvaluation {
  const t0 = Date.now();
  const { settings, print } = input;
  const denoiser = decodeModelBlob(input.denoiserBlob);
  const initial = decodeModelBlob(input.initialClassifierBlob);
  const enginePromise = createDemoEngine({ threads: 1 });
  const prepared = enginePromise.then(async (engine) => {
    const [classifierDepth, size] = engine.classifierInputShape(initial);
    const mapSize = { depth: classifierDepth, size };
    const baselines = runBaselines(input, mapSize, settings.hospitals.map((h) => h.name), print);
    // Not awaited until finish(); a failure before then must not be an unhandled rejection.
    baselines.catch(() => undefined);
    const test = await testVolumes(engine, input, denoiser, mapSize);
    return { engine, mapSize, baselines, ...test, preparedMs: Date.now() - t0 };
  });
  prepared.catch(() => undefined);
  return {
    finish: async (classifierBlob) => {
      const p = await prepared;
      try {
        return await score(p, decodeModelBlob(classifierBlob), print, t0);
      } finally {
        p.engine.dispose();
      }
    },
  };
}

/** The external test set (and archive) as infection volumes, and the report's sample images. */
async function testVolumes(engine: DemoEngine, input: EvaluationInput, denoiser: ModelBlob, mapSize: InfectionSize): Promise<{ test: LabelledInfection[]; calibration: LabelledInfection[] | null; images: ReportImage[] }> {
  const { settings, print } = input;
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
  const calibrationJobs = jobs.filter((j) => j.split === 'calibration');
  let calibration: LabelledInfection[] | null = null;
  if (hasBatchNorm(decodeModelBlob(input.initialClassifierBlob)) && calibrationJobs.length > 0) {
    print(`  site-local BatchNorm statistics: preprocessing ${calibrationJobs.length} unlabeled studies of ${settings.external.name}'s archive ...`);
    calibration = await infectionVolumes(engine, denoiser, mapSize, calibrationJobs);
  }
  return { test, calibration, images };
}

async function score(
  p: { engine: DemoEngine; baselines: ReturnType<typeof runBaselines>; test: LabelledInfection[]; calibration: LabelledInfection[] | null; images: ReportImage[]; preparedMs: number },
  classifier: ModelBlob,
  print: (line: string) => void,
  t0: number,
): Promise<EvaluationResult> {
  const { engine, test, calibration } = p;
  const t1 = Date.now();
  const perScanner = calibration ? countBy(calibration.map((c) => c.scanner)) : null;
  const federated = await testMetrics(engine, classifier, test, calibration);
  const federatedModelStatistics = calibration ? await testMetrics(engine, classifier, test, null) : null;
  print(`  federated model: accuracy ${(federated.accuracy * 100).toFixed(1)} %, AUC Covid-19 ${federated.auc.toFixed(3)}${perScanner ? ` (statistics of each scanner model's archive: ${Object.entries(perScanner).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`);
  if (federatedModelStatistics) print(`  federated model with its own averaged BatchNorm statistics: accuracy ${(federatedModelStatistics.accuracy * 100).toFixed(1)} %`);
  const federatedMs = Date.now() - t1;
  const singleSite: BaselineResult[] = [];
  let centralized: BaselineResult | null = null;
  const results = await p.baselines;
  for (const r of results) {
    const metrics = await testMetrics(engine, r.weights, test, calibration);
    print(`  ${r.name}: ${r.outcome.trainStudies} studies, ${r.outcome.epochs} epochs, ${(r.outcome.trainMs / 1000).toFixed(1)} s → accuracy ${(metrics.accuracy * 100).toFixed(1)} %`);
    const result: BaselineResult = { name: r.name, epochs: r.outcome.epochs, trainStudies: r.outcome.trainStudies, trainMs: r.outcome.trainMs, test: metrics };
    if (r.name === POOLED) centralized = result;
    else singleSite.push(result);
  }
  if (!centralized) throw new DemoError('the pooled baseline did not run');
  return {
    backend: engine.backend,
    inputShape: engine.classifierInputShape(classifier),
    federated,
    federatedModelStatistics,
    calibration: perScanner,
    singleSite,
    centralized,
    images: p.images,
    timingsMs: { testPreparation: p.preparedMs, federatedEvaluation: federatedMs, baselines: Math.max(...results.map((r) => r.outcome.trainMs)), afterFederated: Date.now() - t1, sinceStart: Date.now() - t0 },
  };
}

function countBy(keys: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = (out[k] ?? 0) + 1;
  return out;
}
