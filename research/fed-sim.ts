/**
 * `node scripts/run-ts.js research/fed-sim.ts [--profile tiny] [options]`: the demo's federated training
 * simulated in one process, for tuning. Same phantoms (seeds, scanners, class balances and thin slices
 * as `npm run demo`), same preprocessing and training functions, and a sample-weighted FedAvg of the
 * sites' weights, but no coordinator, sockets or DICOM files. Prints the federated model's external
 * test accuracy after every classifier round, then the single-site and pooled baselines.
 * Options: --seed, --rounds, --epochs, --lr, --batch, --flip 1, --balanced 1 (classifier);
 * --drounds, --depochs, --dlr, --dbatch, --dnoisy F (share of noisy slices), --savedenoiser PREFIX (each round's
 * global denoiser to PREFIX-rN.fctm), --loaddenoiser FILE (no denoiser training) (denoiser); --scale K (K x the training studies),
 * --counts MAJOR,MINOR (per-hospital class balance), --scanners A,B,C, --extscanner S[,S2,...],
 * --testscale K; --server avgm:BETA | adam:ETA [--tau T] (server optimiser); --pooled N (central
 * training only, N calls of --epochs, accuracy after each); --raw 1 (classifier on the preprocessed
 * volume instead of the infection residual: a diagnostic); --baselines 0; --workers N.
 * Infection volumes are cached in /tmp per data/denoiser setting. Not part of the product.
 */
import {
  evaluateClassifier, extractInfection, modelFromBlob, predictClasses, recalibrateBatchNorm, CNN3D_MODEL, resizeDepth, slicesAtSize, generatePhantomStudy, initBackend, preprocessStudy, trainClassifier, trainDenoiser,
  type LabelledVolume, type PhantomClass,
} from '@fedct/pipeline';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { WeightedSum } from '@fedct/strategies';
import { decodeModelBlob, encodeModelBlob, scheduledLearningRate, type ModelBlob } from '@fedct/protocol';
import { loadDemoSettings } from '../scripts/demo/demo-settings';
import { planPhantoms } from '../scripts/demo/hospitals';
import { standardise } from './tuning';

const LABEL: Record<PhantomClass, number> = { control: 0, 'covid-19': 1, cap: 2 };

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const num = (name: string, fallback: number): number => (arg(name) !== undefined ? Number(arg(name)) : fallback);

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

/** Sample-weighted FedAvg with the coordinator's own running sum. */
function average(results: { weights: ModelBlob; sampleCount: number }[]): ModelBlob {
  const first = results[0]!.weights;
  const sum = new WeightedSum(first.weights.length);
  for (const r of results) sum.fold(r.weights.weights, r.sampleCount);
  return { manifest: first.manifest, weights: sum.mean() };
}

async function main(): Promise<void> {
  const profile = arg('profile') ?? 'tiny';
  const settings = loadDemoSettings(profile, process.cwd());
  const seed = num('seed', settings.seed);
  const scale = num('scale', 1);
  for (const h of settings.hospitals) for (const k of ['control', 'covid-19', 'cap'] as const) h.train[k] *= scale;
  if (arg('counts')) {
    // "major,minor": each hospital has `major` studies of its own majority class and `minor` of the others.
    const [major, minor] = (arg('counts') ?? '').split(',').map(Number);
    settings.hospitals.forEach((h, i) => (['control', 'covid-19', 'cap'] as const).forEach((k, j) => (h.train[k] = i === j ? major! : minor!)));
  }
  if (arg('extscanner')) settings.external.scanner = arg('extscanner')!.includes(',') ? arg('extscanner')!.split(',') : arg('extscanner')!;
  if (arg('scanners')) (arg('scanners') ?? '').split(',').forEach((sc, i) => { if (settings.hospitals[i]) settings.hospitals[i]!.scanner = sc; });
  const testScale = num('testscale', 1);
  for (const k of ['control', 'covid-19', 'cap'] as const) settings.external.counts[k] *= testScale;
  settings.seed = seed;
  const c = settings.classifier;
  const rounds = num('rounds', c.rounds);
  const epochs = num('epochs', c.localEpochs);
  const lr = num('lr', c.learningRate);
  const batch = num('batch', c.batchSize);
  const flip = arg('flip') === '1';
  const dRounds = num('drounds', settings.denoiser.rounds);
  const dEpochs = num('depochs', settings.denoiser.localEpochs);
  const dLr = num('dlr', settings.denoiser.learningRate);
  const dBatch = num('dbatch', settings.denoiser.batchSize);
  const dNoisy = num('dnoisy', 0.5);
  const workers = num('workers', 1);
  const skipBaselines = arg('baselines') === '0';
  const info = await initBackend();
  const { bcdunet } = settings.networks;
  const cnn3d = { ...settings.networks.cnn3d, ...(arg('bn') === '1' ? { batchNorm: true } : arg('bn') === '0' ? { batchNorm: false } : {}), ...(arg('gn') ? { batchNorm: false, groupNorm: Number(arg('gn')) } : {}), ...(arg('leaky') ? { leakyRelu: Number(arg('leaky')) } : {}) };
  const hospitals = settings.hospitals.map((h) => h.name);
  const t0 = Date.now();
  // The key holds the resulting study counts, so a change of the demo's defaults cannot load an old cache.
  const counts = settings.hospitals.map((h) => `${h.train.control},${h.train['covid-19']},${h.train.cap}`).join(';');
  const cacheFile = `/tmp/fed-sim-${profile}-${seed}-${scale}-${dRounds}-${dEpochs}-${dLr}-${dBatch}-${dNoisy}-${(arg('loaddenoiser') ?? '').replace(/\//g, '_')}-${arg('raw') ?? 0}-${testScale}-${counts}-${arg('extscanner') ?? ''}-${arg('scanners') ?? ''}.json`;
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
    studies.push({ owner: job.owner, split: job.split, label: LABEL[job.cls], data: v.data, shape: v.shape });
  }
  console.log(`backend ${info.name}; ${studies.length} studies in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // Denoiser: FedAvg over each hospital's training Control slices.
  let denoiser: ModelBlob | null = arg('loaddenoiser') ? decodeModelBlob(new Uint8Array(readFileSync(arg('loaddenoiser')!))) : null;
  for (let r = 1; r <= (denoiser ? 0 : dRounds); r++) {
    const results = [];
    for (const [hi, h] of hospitals.entries()) {
      const controls = studies.filter((s) => s.owner === h && s.split === 'train' && s.label === 0);
      const plane = 128 * 128;
      const count = controls.reduce((n, s) => n + s.shape[0], 0);
      const data = new Float32Array(count * plane);
      let offset = 0;
      for (const s of controls) { data.set(s.data, offset); offset += s.data.length; }
      results.push(await trainDenoiser({
        config: bcdunet, initialWeights: denoiser, initSeed: seed, data: { data, count, height: 128, width: 128 },
        epochs: dEpochs, batchSize: dBatch, learningRate: dLr, seed: seed * 1000 + r * 10 + hi, workers, noisyFraction: dNoisy,
      }));
    }
    denoiser = average(results);
    if (arg('savedenoiser')) writeFileSync(`${arg('savedenoiser')}-r${r}.fctm`, encodeModelBlob(denoiser));
    console.log(`denoiser round ${r}: loss ${results.map((x) => x.metrics.loss?.toFixed(4)).join(' ')}`);
  }
  const depth = cnn3d.inputShape[0];
  for (const s of studies) {
    if (arg('raw') === '1') {
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
  if (arg('standardise') === '1') {
    // Each volume to mean 0, std 1 (removes a scanner's overall level and noise scale, and the lesion load's share of them).
    for (const v of volumes) standardise(v.data);
  }
  {
    const jobs = planPhantoms(settings, '/nonexistent').filter((j) => j.split !== 'calibration');
    if (jobs.length !== volumes.length) throw new Error('jobs and volumes differ');
    volumes.forEach((v, i) => { v.scanner = jobs[i]!.scanner; });
  }
  const test = volumes.filter((v) => v.split === 'test');
  for (const label of [0, 1, 2]) {
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
    if (arg('tta') === '1') {
      const b = await evaluateClassifier({ weights, data: testFlipped });
      const avg = a.probabilities.map((p, i) => p.map((x, k) => (x + b.probabilities[i]![k]!) / 2));
      const ok = avg.filter((p, i) => p.indexOf(Math.max(...p)) === test[i]!.label).length;
      line += ` | tta acc ${(ok / test.length).toFixed(3)}`;
    }
    for (const mode of (arg('calib') ?? '').split(',').filter(Boolean)) {
      // Per-scanner BatchNorm statistics: 'test' = on the test studies of the same scanner (no labels);
      // 'train' = on the training studies of that scanner.
      const probs: number[][] = new Array(test.length);
      for (const sc of [...new Set(test.map((t) => t.scanner))]) {
        const idx = test.map((t, i) => (t.scanner === sc ? i : -1)).filter((i) => i >= 0);
        const calib = mode === 'test' ? idx.map((i) => test[i]!) : volumes.filter((v) => v.split === 'train' && v.scanner === sc);
        const model = modelFromBlob(weights, CNN3D_MODEL);
        await recalibrateBatchNorm(model, calib, num('calibbatch', calib.length));
        const p = await predictClasses(model, idx.map((i) => test[i]!));
        model.dispose();
        idx.forEach((i, k) => { probs[i] = p[k]!; });
      }
      const ok = probs.filter((p, i) => p.indexOf(Math.max(...p)) === test[i]!.label).length;
      line += ` | calib-${mode} ${(ok / test.length).toFixed(3)}`;
    }
    return line;
  };

  const pooledCalls = num('pooled', 0);
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
  const rateOf = (round: number): number => scheduledLearningRate(lr, arg('sched') === 'cos' ? 'cosine' : 'constant', round, rounds);
  let global: ModelBlob | null = null;
  let m: Float32Array | undefined;
  let v: Float32Array | undefined;
  let swaSum: Float64Array | undefined;
  let swaN = 0;
  for (let r = 1; r <= rounds; r++) {
    const results = [];
    for (const [hi, h] of hospitals.entries()) {
      const data = volumes.filter((v) => v.owner === h && v.split === 'train');
      results.push(await trainClassifier({
        config: { ...cnn3d }, initialWeights: global, initSeed: seed, data, epochs, batchSize: batch, learningRate: rateOf(r),
        seed: seed * 1000 + r * 10 + hi, flipAugment: flip, workers, classBalanced: arg('balanced') === '1',
      }));
    }
    const mean = average(results);
    const server = arg('server') ?? 'avg';
    if (global && server !== 'avg') {
      const [kind, value] = server.split(':');
      const base = global.weights, avg = mean.weights, out = new Float32Array(avg.length);
      m ??= new Float32Array(avg.length);
      v ??= new Float32Array(avg.length);
      for (let i = 0; i < avg.length; i++) {
        const delta = avg[i]! - base[i]!;
        if (kind === 'adam') {
          m[i] = 0.9 * m[i]! + 0.1 * delta;
          v[i] = 0.99 * v[i]! + 0.01 * delta * delta;
          out[i] = base[i]! + (Number(value) * m[i]!) / (Math.sqrt(v[i]!) + num('tau', 1e-9));
        } else {
          m[i] = Number(value) * m[i]! + delta;
          out[i] = base[i]! + m[i]!;
        }
      }
      global = { manifest: mean.manifest, weights: out };
    } else global = mean;
    let swaLine = '';
    const swaK = num('swa', 0);
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
      w = (await trainClassifier({ config: { ...cnn3d }, initialWeights: w, initSeed: seed, data, epochs, batchSize: batch, learningRate: rateOf(r), seed: seed * 1000 + r, flipAugment: flip, workers, classBalanced: arg('balanced') === '1' })).weights;
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
