/**
 * `node scripts/run-ts.js research/fed-sim.ts [--profile tiny] [options]`: the demo's federated training
 * simulated in one process, for tuning. Same phantoms (seeds, scanners, class balances and thin slices
 * as `npm run demo`), same preprocessing and training functions, and each round aggregated by the
 * product's strategy (`createStrategy`, as the coordinator runs it, server state kept between rounds;
 * FedAvg unless the profile's demo settings or `--strategy` / `--dstrategy` say otherwise), but no
 * coordinator, sockets or DICOM files. Prints the federated model's external test accuracy after every
 * classifier round, then the single-site and pooled baselines. `--help` lists the options;
 * research/README.md says what they are for. Infection volumes are cached in /tmp per data/denoiser
 * setting. Not part of the product.
 */
import {
  evaluateClassifier, extractInfection, modelFromBlob, predictClasses, recalibrateBatchNorm, CNN3D_MODEL, resizeDepth, slicesAtSize, generatePhantomStudy, initBackend, preprocessStudy, trainClassifier, trainDenoiser,
  type LabelledVolume, type TrainResult,
} from '@fedct/pipeline';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createStrategy, WeightedSum, type Strategy, type StrategyState } from '@fedct/strategies';
import {
  CLASS_INDEX, CLASS_NAMES, createExperimentSchema, decodeModelBlob, encodeModelBlob, scheduledLearningRate, strategyNameSchema, type ExperimentSettings, type ModelBlob,
} from '@fedct/protocol';
import { loadDemoSettings } from '../scripts/demo/demo-settings';
import { planPhantoms } from '../scripts/demo/hospitals';
import { exitWithUsageError, parseArgs } from './args';
import { standardise } from './tuning';

const STRATEGIES = strategyNameSchema.options;

const COMMAND = {
  usage: 'node scripts/run-ts.js research/fed-sim.ts [--profile tiny] [options]',
  options: {
    profile: { type: 'string', default: 'tiny', help: "the demo profile whose settings are simulated (configs/profiles/NAME.yaml)" },
    seed: { type: 'number', help: "phantoms' and training seed (default: the profile's demo seed)" },
    scale: { type: 'number', default: 1, help: "K × every hospital's training studies" },
    counts: { type: 'string', help: "'MAJOR,MINOR': each hospital has MAJOR studies of its own majority class and MINOR of the others" },
    scanners: { type: 'string', help: "'A,B,C': the hospitals' scanner models" },
    extscanner: { type: 'string', help: "'S[,S2,...]': the external hospital's scanner model(s), alternating" },
    testscale: { type: 'number', default: 1, help: 'K × the external test studies' },
    rounds: { type: 'number', help: "classifier rounds (default: the profile's)" },
    epochs: { type: 'number', help: "classifier local epochs per round (default: the profile's)" },
    lr: { type: 'number', help: "classifier learning rate (default: the profile's)" },
    batch: { type: 'number', help: "classifier batch size (default: the profile's)" },
    sched: { type: 'string', help: "'cos': the coordinator's cosine schedule over the rounds (otherwise constant)" },
    flip: { type: 'flag', default: false, help: 'seeded left-right flips (flipAugment)' },
    balanced: { type: 'flag', default: false, help: 'class-balanced local epochs (classBalanced)' },
    bn: { type: 'flag', help: "BatchNorm on (1) or off (0) in the classifier (default: the profile's)" },
    gn: { type: 'number', help: 'group normalisation with N groups instead of BatchNorm' },
    leaky: { type: 'number', help: 'leaky ReLU slope of the classifier' },
    raw: { type: 'flag', default: false, help: 'classify the preprocessed volume instead of the infection residual (a diagnostic)' },
    standardise: { type: 'flag', default: false, help: 'each volume to mean 0, std 1' },
    tta: { type: 'flag', default: false, help: 'also score each test study averaged with its mirror image' },
    calib: { type: 'string', help: "'test' and/or 'train' (comma-separated): also score with per-scanner BatchNorm statistics of the test / training studies" },
    calibbatch: { type: 'number', help: 'batch size of those statistics (default: all the studies)' },
    swa: { type: 'number', default: 0, help: "also score the mean of the last K rounds' global weights" },
    pooled: { type: 'number', default: 0, help: 'central training only: N calls of --epochs, accuracy after each' },
    baselines: { type: 'flag', default: true, help: 'single-site and pooled baselines after the federated rounds (0: none)' },
    workers: { type: 'number', default: 1, help: 'training threads' },
    strategy: { type: 'string', choices: STRATEGIES, help: "the classifier phase's strategy (default: the profile's demo setting)" },
    dstrategy: { type: 'string', choices: STRATEGIES, help: "the denoiser phase's strategy (default: the profile's demo setting)" },
    'server-lr': { type: 'number', help: 'fedadam / fedyogi: server learning rate η (strategy default 0.1)' },
    beta1: { type: 'number', help: 'fedadam / fedyogi: β1 (strategy default 0.9)' },
    beta2: { type: 'number', help: 'fedadam / fedyogi: β2 (strategy default 0.99)' },
    tau: { type: 'number', help: 'fedadam / fedyogi: adaptivity τ (strategy default 1e-9)' },
    'proximal-mu': { type: 'number', help: 'fedprox: μ (strategy default 0.01)' },
    'trim-fraction': { type: 'number', help: 'trimmed-mean: share β trimmed at each end (strategy default 0.1)' },
    drounds: { type: 'number', help: "denoiser rounds (default: the profile's)" },
    depochs: { type: 'number', help: "denoiser local epochs (default: the profile's)" },
    dlr: { type: 'number', help: "denoiser learning rate (default: the profile's)" },
    dbatch: { type: 'number', help: "denoiser batch size (default: the profile's)" },
    dnoisy: { type: 'number', default: 0.5, help: "share of the denoiser's training slices given Perlin noise" },
    savedenoiser: { type: 'string', help: "PREFIX: each round's global denoiser to PREFIX-rN.fctm" },
    loaddenoiser: { type: 'string', help: 'FILE: this denoiser instead of training one' },
  },
} as const;

type StrategyOptions = ExperimentSettings['strategyOptions'];

/** The strategy options given on the command line, checked by the product's own schema. */
function strategyOptions(o: { 'server-lr'?: number; beta1?: number; beta2?: number; tau?: number; 'proximal-mu'?: number; 'trim-fraction'?: number }): StrategyOptions {
  const given = {
    serverLearningRate: o['server-lr'], beta1: o.beta1, beta2: o.beta2, tau: o.tau, proximalMu: o['proximal-mu'], trimFraction: o['trim-fraction'],
  };
  const parsed = createExperimentSchema.shape.strategyOptions.safeParse(Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)));
  const flag: Record<string, string> = { serverLearningRate: 'server-lr', proximalMu: 'proximal-mu', trimFraction: 'trim-fraction' };
  if (!parsed.success) exitWithUsageError(parsed.error.issues.map((i) => `--${flag[String(i.path[0])] ?? String(i.path[0])}: ${i.message}`).join('; '));
  return parsed.data;
}

/**
 * One round's aggregation as the coordinator runs it: the strategy over every hospital's result (a
 * running sample-weighted sum for streaming strategies, block reads of the in-memory updates for robust
 * ones), its server state (e.g. FedAdam's moments) kept in `state` between rounds. "Keep the previous
 * model" keeps `base`.
 */
function aggregate(strategy: Strategy, state: StrategyState, base: ModelBlob | null, sites: readonly string[], results: readonly TrainResult[]): ModelBlob {
  const first = results[0]!.weights;
  const length = first.weights.length;
  let sum: WeightedSum | null = null;
  if (strategy.streaming) {
    sum = new WeightedSum(length);
    for (const r of results) sum.fold(r.weights.weights, r.sampleCount);
  }
  const outcome = strategy.aggregate({
    base: base?.weights ?? null,
    accepted: results.map((r, i) => ({ siteId: sites[i]!, sampleCount: r.sampleCount })),
    failures: [],
    sum,
    readBlock: strategy.streaming ? null : (offset, n) => results.map((r) => r.weights.weights.subarray(offset, offset + n)),
    length,
  }, state);
  if (outcome.kind === 'model') return { manifest: first.manifest, weights: outcome.weights };
  if (!base) throw new Error(`${strategy.name} kept no model in round 1: ${outcome.reason}`);
  console.log(`${strategy.name} kept the previous model: ${outcome.reason}`);
  return base;
}

interface Study { owner: string; split: string; label: number; data: Float32Array; shape: [number, number, number]; scanner?: string }

/** Block means of a volume down to `to` (each size a divisor of the volume's). */
function blockMean(data: Float32Array, shape: [number, number, number], to: [number, number, number]): Float32Array {
  const [fz, fy, fx] = [shape[0] / to[0], shape[1] / to[1], shape[2] / to[2]];
  if (![fz, fy, fx].every((f) => Number.isInteger(f) && f >= 1)) throw new Error(`cannot average ${shape.join('×')} down to ${to.join('×')}`);
  const out = new Float32Array(to[0] * to[1] * to[2]);
  for (let z = 0; z < shape[0]; z++) for (let y = 0; y < shape[1]; y++) for (let x = 0; x < shape[2]; x++) {
    out[(Math.floor(z / fz) * to[1] + Math.floor(y / fy)) * to[2] + Math.floor(x / fx)]! += data[(z * shape[1] + y) * shape[2] + x]! / (fz * fy * fx);
  }
  return out;
}

async function main(): Promise<void> {
  const { options: o } = parseArgs(COMMAND);
  const profile = o.profile;
  const settings = loadDemoSettings(profile, process.cwd());
  const seed = o.seed ?? settings.seed;
  const scale = o.scale;
  for (const h of settings.hospitals) for (const k of CLASS_NAMES) h.train[k] *= scale;
  if (o.counts) {
    // "major,minor": each hospital has `major` studies of its own majority class and `minor` of the others.
    const [major, minor] = o.counts.split(',').map(Number);
    settings.hospitals.forEach((h, i) => CLASS_NAMES.forEach((k, j) => (h.train[k] = i === j ? major! : minor!)));
  }
  if (o.extscanner) settings.external.scanner = o.extscanner.includes(',') ? o.extscanner.split(',') : o.extscanner;
  if (o.scanners) o.scanners.split(',').forEach((sc, i) => { if (settings.hospitals[i]) settings.hospitals[i]!.scanner = sc; });
  const testScale = o.testscale;
  for (const k of CLASS_NAMES) settings.external.counts[k] *= testScale;
  settings.seed = seed;
  const c = settings.classifier;
  const rounds = o.rounds ?? c.rounds;
  const epochs = o.epochs ?? c.localEpochs;
  const lr = o.lr ?? c.learningRate;
  const batch = o.batch ?? c.batchSize;
  const flip = o.flip;
  const dRounds = o.drounds ?? settings.denoiser.rounds;
  const dEpochs = o.depochs ?? settings.denoiser.localEpochs;
  const dLr = o.dlr ?? settings.denoiser.learningRate;
  const dBatch = o.dbatch ?? settings.denoiser.batchSize;
  const dNoisy = o.dnoisy;
  const workers = o.workers;
  const skipBaselines = !o.baselines;
  // Each phase runs its own strategy with its own server state, as the demo's two experiments do.
  const options = strategyOptions(o);
  const denoiserStrategy = createStrategy({ strategy: strategyNameSchema.parse(o.dstrategy ?? settings.denoiser.strategy), strategyOptions: options });
  const classifierStrategy = createStrategy({ strategy: strategyNameSchema.parse(o.strategy ?? c.strategy), strategyOptions: options });
  const info = await initBackend();
  const { bcdunet } = settings.networks;
  const cnn3d = { ...settings.networks.cnn3d, ...(o.bn === true ? { batchNorm: true } : o.bn === false ? { batchNorm: false } : {}), ...(o.gn !== undefined ? { batchNorm: false, groupNorm: o.gn } : {}), ...(o.leaky !== undefined ? { leakyRelu: o.leaky } : {}) };
  const hospitals = settings.hospitals.map((h) => h.name);
  const t0 = Date.now();
  // The key holds the resulting study counts, so a change of the demo's defaults cannot load an old cache.
  // The denoiser's strategy is in it only when it is not FedAvg, so the caches written before it was an option still load.
  const counts = settings.hospitals.map((h) => `${h.train.control},${h.train['covid-19']},${h.train.cap}`).join(';');
  const dStrategyKey = denoiserStrategy.name === 'fedavg' ? '' : `-${denoiserStrategy.name}-${Object.entries(options).map(([k, v]) => `${k}=${v}`).join(',')}`;
  const cacheFile = `/tmp/fed-sim-${profile}-${seed}-${scale}-${dRounds}-${dEpochs}-${dLr}-${dBatch}-${dNoisy}-${(o.loaddenoiser ?? '').replace(/\//g, '_')}-${o.raw ? 1 : 0}-${testScale}-${counts}-${o.extscanner ?? ''}-${o.scanners ?? ''}${dStrategyKey}.json`;
  let volumes: (Study & LabelledVolume)[] = [];
  if (existsSync(cacheFile)) {
    const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as (Omit<Study, 'data'> & { data: number[] })[];
    volumes = cached.map((v) => ({ ...v, data: Float32Array.from(v.data) }));
  } else {
  const jobs = planPhantoms(settings, '/nonexistent').filter((j) => j.split !== 'calibration');
  const studies: Study[] = [];
  for (const job of jobs) {
    const study = generatePhantomStudy({ cls: job.cls, seed: job.seed, scanner: job.scanner, ...(settings.phantomSlices ? { slices: settings.phantomSlices } : {}) });
    const v = await preprocessStudy(study);
    studies.push({ owner: job.owner, split: job.split, label: CLASS_INDEX[job.cls], data: v.data, shape: v.shape });
  }
  console.log(`backend ${info.name}; ${studies.length} studies in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // Denoiser: the denoiser strategy (FedAvg by default) over each hospital's training Control slices.
  let denoiser: ModelBlob | null = o.loaddenoiser ? decodeModelBlob(new Uint8Array(readFileSync(o.loaddenoiser))) : null;
  const denoiserState: StrategyState = new Map();
  for (let r = 1; r <= (denoiser ? 0 : dRounds); r++) {
    const { proximalMu } = denoiserStrategy.configureRound(r);
    const results = [];
    for (const [hi, h] of hospitals.entries()) {
      const controls = studies.filter((s) => s.owner === h && s.split === 'train' && s.label === CLASS_INDEX.control);
      const plane = 128 * 128;
      const count = controls.reduce((n, s) => n + s.shape[0], 0);
      const data = new Float32Array(count * plane);
      let offset = 0;
      for (const s of controls) { data.set(s.data, offset); offset += s.data.length; }
      results.push(await trainDenoiser({
        config: bcdunet, initialWeights: denoiser, initSeed: seed, data: { data, count, height: 128, width: 128 },
        epochs: dEpochs, batchSize: dBatch, learningRate: dLr, seed: seed * 1000 + r * 10 + hi, workers, noisyFraction: dNoisy,
        ...(proximalMu !== undefined ? { proximalMu } : {}),
      }));
    }
    denoiser = aggregate(denoiserStrategy, denoiserState, denoiser, hospitals, results);
    if (o.savedenoiser) writeFileSync(`${o.savedenoiser}-r${r}.fctm`, encodeModelBlob(denoiser));
    console.log(`denoiser round ${r}: loss ${results.map((x) => x.metrics.loss?.toFixed(4)).join(' ')}`);
  }
  const depth = cnn3d.inputShape[0];
  for (const s of studies) {
    if (o.raw) {
      // Diagnostic: the preprocessed volume itself (no residual), at the classifier's size.
      const size = bcdunet.size;
      const slices = slicesAtSize({ data: s.data, count: s.shape[0], height: s.shape[1], width: s.shape[2] }, size);
      volumes.push({ ...s, data: resizeDepth({ data: slices, shape: [s.shape[0], size, size] }, depth), shape: [depth, size, size] });
      continue;
    }
    const v = await extractInfection({ denoiser: denoiser!, volume: s.data, shape: s.shape, depth, batchSize: 32 });
    volumes.push({ ...s, data: v.data, shape: v.shape });
  }
  writeFileSync(cacheFile, JSON.stringify(volumes.map((v) => ({ ...v, data: Array.from(v.data) }))));
  }
  const want = cnn3d.inputShape;
  if (volumes[0] && volumes[0].shape.join() !== want.join()) {
    // A cache written at another classifier size: averaged down (close to, not exactly, extractInfection's resize).
    volumes = volumes.map((v) => ({ ...v, data: blockMean(v.data, v.shape, want), shape: [...want] }));
  }
  if (o.standardise) {
    // Each volume to mean 0, std 1 (removes a scanner's overall level and noise scale, and the lesion load's share of them).
    for (const v of volumes) standardise(v.data);
  }
  {
    const jobs = planPhantoms(settings, '/nonexistent').filter((j) => j.split !== 'calibration');
    if (jobs.length !== volumes.length) throw new Error('jobs and volumes differ');
    volumes.forEach((v, i) => { v.scanner = jobs[i]!.scanner; });
  }
  const test = volumes.filter((v) => v.split === 'test');
  for (const label of CLASS_NAMES.map((k) => CLASS_INDEX[k])) {
    const vs = volumes.filter((v) => v.label === label);
    let sum = 0, sq = 0, n = 0, pos = 0;
    for (const v of vs) for (const x of v.data) { sum += x; sq += x * x; n++; if (x > 0.05) pos++; }
    console.log(`label ${label}: mean ${(sum / n).toFixed(4)} std ${Math.sqrt(sq / n - (sum / n) ** 2).toFixed(4)} share>0.05 ${(pos / n).toFixed(4)}`);
  }
  const t1 = Date.now();
  console.log(`denoiser + infection volumes: ${((t1 - t0) / 1000).toFixed(1)} s`);
  const flipX = (v: Study & LabelledVolume): Study & LabelledVolume => {
    const [d, h, w] = v.shape;
    const out = new Float32Array(v.data.length);
    for (let z = 0; z < d; z++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[(z * h + y) * w + x] = v.data[(z * h + y) * w + (w - 1 - x)]!;
    return { ...v, data: out };
  };
  const testFlipped = test.map(flipX);
  const evaluate = async (weights: ModelBlob): Promise<string> => {
    const a = await evaluateClassifier({ weights, data: test });
    const m = a.metrics;
    let line = `acc ${m.accuracy.toFixed(3)} auc ${m.aucCovid.toFixed(3)} confusion ${JSON.stringify(m.confusion)}`;
    if (o.tta) {
      const b = await evaluateClassifier({ weights, data: testFlipped });
      const avg = a.probabilities.map((p, i) => p.map((x, k) => (x + b.probabilities[i]![k]!) / 2));
      const ok = avg.filter((p, i) => p.indexOf(Math.max(...p)) === test[i]!.label).length;
      line += ` | tta acc ${(ok / test.length).toFixed(3)}`;
    }
    for (const mode of (o.calib ?? '').split(',').filter(Boolean)) {
      // Per-scanner BatchNorm statistics: 'test' = on the test studies of the same scanner (no labels);
      // 'train' = on the training studies of that scanner.
      const probs: number[][] = new Array(test.length);
      for (const sc of [...new Set(test.map((t) => t.scanner))]) {
        const idx = test.map((t, i) => (t.scanner === sc ? i : -1)).filter((i) => i >= 0);
        const calib = mode === 'test' ? idx.map((i) => test[i]!) : volumes.filter((v) => v.split === 'train' && v.scanner === sc);
        const model = modelFromBlob(weights, CNN3D_MODEL);
        await recalibrateBatchNorm(model, calib, o.calibbatch ?? calib.length);
        const p = await predictClasses(model, idx.map((i) => test[i]!));
        model.dispose();
        idx.forEach((i, k) => { probs[i] = p[k]!; });
      }
      const ok = probs.filter((p, i) => p.indexOf(Math.max(...p)) === test[i]!.label).length;
      line += ` | calib-${mode} ${(ok / test.length).toFixed(3)}`;
    }
    return line;
  };

  const pooledCalls = o.pooled;
  if (pooledCalls > 0) {
    // Central training in `pooledCalls` calls of `epochs` epochs each, printing the test accuracy after each.
    let w: ModelBlob | null = null;
    const data = volumes.filter((v) => v.split === 'train');
    for (let k = 1; k <= pooledCalls; k++) {
      const r = await trainClassifier({ config: { ...cnn3d }, initialWeights: w, initSeed: seed, data, epochs, batchSize: batch, learningRate: lr, seed: seed + k, flipAugment: flip, workers });
      w = r.weights;
      console.log(`pooled ${k * epochs} epochs: loss ${r.metrics.loss?.toFixed(3)} → ${await evaluate(w)}`);
    }
    return;
  }
  // --sched cos: the coordinator's cosine schedule over the rounds.
  const rateOf = (round: number): number => scheduledLearningRate(lr, o.sched === 'cos' ? 'cosine' : 'constant', round, rounds);
  let global: ModelBlob | null = null;
  const classifierState: StrategyState = new Map();
  let swaSum: Float64Array | undefined;
  let swaN = 0;
  for (let r = 1; r <= rounds; r++) {
    const { proximalMu } = classifierStrategy.configureRound(r);
    const results = [];
    for (const [hi, h] of hospitals.entries()) {
      const data = volumes.filter((v) => v.owner === h && v.split === 'train');
      results.push(await trainClassifier({
        config: { ...cnn3d }, initialWeights: global, initSeed: seed, data, epochs, batchSize: batch, learningRate: rateOf(r),
        seed: seed * 1000 + r * 10 + hi, flipAugment: flip, workers, classBalanced: o.balanced,
        ...(proximalMu !== undefined ? { proximalMu } : {}),
      }));
    }
    global = aggregate(classifierStrategy, classifierState, global, hospitals, results);
    let swaLine = '';
    const swaK = o.swa;
    if (swaK > 0 && r > rounds - swaK) {
      swaSum ??= new Float64Array(global.weights.length);
      for (let i = 0; i < swaSum.length; i++) swaSum[i]! += global.weights[i]!;
      swaN++;
      const w = new Float32Array(swaSum.length);
      for (let i = 0; i < w.length; i++) w[i] = swaSum[i]! / swaN;
      swaLine = ` || swa(${swaN}) ${await evaluate({ manifest: global.manifest, weights: w })}`;
    }
    console.log(`round ${r}: loss ${results.map((x) => x.metrics.loss?.toFixed(3)).join(' ')} → ${await evaluate(global)}${swaLine}`);
  }
  console.log(`federated: ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  if (skipBaselines) return;
  const baseline = async (name: string, data: LabelledVolume[]): Promise<void> => {
    // As the demo's baselines: the federated rounds' epochs and rates, a fresh optimiser per round.
    let w: ModelBlob | null = null;
    for (let r = 1; r <= rounds; r++) {
      w = (await trainClassifier({ config: { ...cnn3d }, initialWeights: w, initSeed: seed, data, epochs, batchSize: batch, learningRate: rateOf(r), seed: seed * 1000 + r, flipAugment: flip, workers, classBalanced: o.balanced })).weights;
    }
    console.log(`${name}: ${await evaluate(w!)}`);
  };
  for (const h of hospitals) await baseline(h, volumes.filter((v) => v.owner === h && v.split === 'train'));
  await baseline('pooled', volumes.filter((v) => v.split === 'train'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
