/**
 * `npm run bench -- preprocess`: the whole path from DICOM files to the model-ready volume
 * (list + parse + decode + HU + 1 mm resampling + window + 128² resize) for a 300-slice 512 × 512
 * phantom series written to a temp folder. The measured run happens in a child process so that its
 * peak memory is its own (VmHWM), not the generator's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generatePhantomStudy, preprocessPath, preprocessStudy, readStudy, resampledSliceCount, writePhantomDicom, type CtStudy } from '@fedct/pipeline';
import type { BenchSuite } from './types';

interface ChildResult {
  seconds: number;
  secondsWarm: number;
  inputVoxels: number;
  rawBytes: number;
  baselineRssMb: number;
  peakRssMb: number;
  outputShape: number[];
}

/**
 * Peak resident memory of this process, bytes. Linux: VmHWM (fresh after exec); ru_maxrss is not used
 * there because it carries over the parent's peak across fork + exec.
 */
function peakRss(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m?.[1]) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

async function child(dir: string): Promise<void> {
  const baseline = process.memoryUsage().rss;
  const t0 = performance.now();
  const first = await preprocessPath(dir);
  const seconds = (performance.now() - t0) / 1000;
  const peakAfterFirst = peakRss();
  const t1 = performance.now();
  await preprocessPath(dir);
  const secondsWarm = (performance.now() - t1) / 1000;
  const inputVoxels = first.sourceSlices * first.series.rows * first.series.columns;
  const result: ChildResult = {
    seconds,
    secondsWarm,
    inputVoxels,
    rawBytes: inputVoxels * 2,
    baselineRssMb: baseline / 2 ** 20,
    peakRssMb: peakAfterFirst / 2 ** 20,
    outputShape: first.shape,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/**
 * scipy.ndimage.zoom(order=3, mode='nearest') along one axis: pad 12 samples by edge replication,
 * cubic B-spline prefilter (pole √3 − 2, mirror boundary), then evaluate at corner-aligned positions.
 */
function cubicZoom1d(signal: Float64Array, nOut: number): Float64Array {
  const pad = 12;
  const n = signal.length + 2 * pad;
  const c = new Float64Array(n);
  for (let i = 0; i < n; i++) c[i] = signal[Math.min(signal.length - 1, Math.max(0, i - pad))] as number;
  const z = Math.sqrt(3) - 2;
  // Causal init for a mirror-symmetric signal (Unser 1999), exact over the padded length.
  let sum = 0;
  let zk = 1;
  for (let k = 0; k < n; k++, zk *= z) sum += zk * (c[k] as number);
  let z2 = Math.pow(z, n - 1);
  for (let k = n - 2; k >= 1; k--) {
    z2 *= z;
    sum += z2 * (c[k] as number);
  }
  c[0] = sum / (1 - Math.pow(z, 2 * n - 2));
  for (let k = 1; k < n; k++) c[k] = (c[k] as number) + z * (c[k - 1] as number);
  c[n - 1] = (z / (z * z - 1)) * ((c[n - 1] as number) + z * (c[n - 2] as number));
  for (let k = n - 2; k >= 0; k--) c[k] = z * ((c[k + 1] as number) - (c[k] as number));
  for (let k = 0; k < n; k++) c[k] = 6 * (c[k] as number);
  const mirror = (i: number): number => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
  const beta = (t: number): number => {
    const a = Math.abs(t);
    return a < 1 ? 2 / 3 - a * a + (a * a * a) / 2 : a < 2 ? ((2 - a) ** 3) / 6 : 0;
  };
  const out = new Float64Array(nOut);
  const scale = nOut > 1 ? (signal.length - 1) / (nOut - 1) : 0;
  for (let o = 0; o < nOut; o++) {
    const x = o * scale + pad;
    const i = Math.floor(x);
    let acc = 0;
    for (let j = i - 1; j <= i + 2; j++) acc += (c[mirror(j)] as number) * beta(x - j);
    out[o] = acc;
  }
  return out;
}

/**
 * The effect of trilinear instead of the original cubic spline (spec §1 step 3) on the model-ready
 * volume of the real 30 × 8 mm series: z resampled by cubic spline (scipy semantics) vs linear, both
 * then through the same in-plane steps. Returns statistics of |difference| in normalised units.
 */
async function cubicVsLinear(dir: string): Promise<{ mean: number; p99: number; max: number; slices: number }> {
  const study = await readStudy(dir);
  const [z, rows, cols] = study.shape;
  const plane = rows * cols;
  const nOut = resampledSliceCount(study.geometry.positionsMm, study.spacingMm[0]);
  const hu = new Float32Array(nOut * plane);
  const column = new Float64Array(z);
  for (let p = 0; p < plane; p++) {
    for (let k = 0; k < z; k++) column[k] = study.hu[k * plane + p] as number;
    const res = cubicZoom1d(column, nOut);
    for (let k = 0; k < nOut; k++) hu[k * plane + p] = res[k] as number;
  }
  const first = study.geometry.positionsMm[0] as number;
  const extent = (study.geometry.positionsMm[z - 1] as number) - first;
  const cubic: CtStudy = {
    ...study,
    hu,
    shape: [nOut, rows, cols],
    // Keep the source's slice spacing so that preprocessing picks the same output grid; the slices
    // then sit exactly on it and its z interpolation is the identity.
    spacingMm: study.spacingMm,
    sourceSlices: nOut,
    geometry: {
      positionsMm: Float64Array.from({ length: nOut }, (_, k) => first + (k * extent) / (nOut - 1)),
      inPlaneShiftMm: new Float64Array(2 * nOut),
    },
  };
  const a = await preprocessStudy(study);
  const b = await preprocessStudy(cubic);
  if (a.data.length !== b.data.length) throw new Error(`grids differ: ${a.shape.join('x')} vs ${b.shape.join('x')}`);
  const diffs = new Float32Array(a.data.length);
  let sum = 0;
  for (let i = 0; i < diffs.length; i++) {
    const d = Math.abs((a.data[i] as number) - (b.data[i] as number));
    diffs[i] = d;
    sum += d;
  }
  diffs.sort();
  return { mean: sum / diffs.length, p99: diffs[Math.floor(0.99 * diffs.length)] as number, max: diffs[diffs.length - 1] as number, slices: a.shape[0] };
}

const run: BenchSuite = async function* ({ quick }) {
  const slices = quick ? 60 : 300;
  const dir = mkdtempSync(join(tmpdir(), 'fedct-bench-preprocess-'));
  try {
    const study = generatePhantomStudy({ cls: 'covid-19', seed: 1, scanner: 'siemens-definition', slices });
    await writePhantomDicom(study, dir);
    const r = spawnSync(process.execPath, [join(__dirname, '..', 'run-ts.js'), __filename, '--child', dir], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    if (r.status !== 0) throw new Error(`bench child failed: ${r.stderr}`);
    const res = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as ChildResult;
    const context = {
      slices,
      matrix: 512,
      outputShape: res.outputShape.join('x'),
      note: 'one core, files in the page cache; 2-core machine shared with other work',
    };
    yield { metric: 'preprocess.mvoxels_per_s', value: res.inputVoxels / 1e6 / res.seconds, unit: 'Mvoxel/s', ...context, run: 'first' };
    yield { metric: 'preprocess.mvoxels_per_s', value: res.inputVoxels / 1e6 / res.secondsWarm, unit: 'Mvoxel/s', ...context, run: 'second' };
    yield { metric: 'preprocess.seconds', value: res.seconds, unit: 's', ...context };
    yield { metric: 'preprocess.peak_rss_mb', value: res.peakRssMb, unit: 'MB', ...context, baselineRssMb: Math.round(res.baselineRssMb) };
    yield {
      metric: 'preprocess.peak_memory_over_raw',
      value: (res.peakRssMb - res.baselineRssMb) / (res.rawBytes / 2 ** 20),
      unit: 'x raw',
      rawMb: Math.round(res.rawBytes / 2 ** 20),
      ...context,
    };
    yield { metric: 'preprocess.peak_rss_over_raw', value: res.peakRssMb / (res.rawBytes / 2 ** 20), unit: 'x raw', ...context };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const real = resolve(__dirname, '../../../shared/data/ct/lung-pet-ct-dx-A0002-8mm');
  if (quick || !existsSync(real)) return;
  const d = await cubicVsLinear(real);
  const context = { study: 'Lung-PET-CT-Dx A0002, 30 x 8 mm', slices: d.slices, units: 'normalised [0,1]; x1400 for HU' };
  yield { metric: 'preprocess.trilinear_vs_cubic.mean_abs', value: d.mean, unit: '', ...context };
  yield { metric: 'preprocess.trilinear_vs_cubic.p99_abs', value: d.p99, unit: '', ...context };
  yield { metric: 'preprocess.trilinear_vs_cubic.max_abs', value: d.max, unit: '', ...context };
};
export default run;

if (process.argv[2] === '--child' && process.argv[3]) {
  child(process.argv[3]).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
