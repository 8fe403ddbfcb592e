/**
 * `npm run bench -- preprocess`: the whole path from DICOM files to the model-ready volume
 * (list + parse + decode + HU + 1 mm resampling + window + 128² resize) for a 300-slice 512 × 512
 * phantom series written to a temp folder. The measured run happens in a child process so that its
 * peak memory is its own (VmHWM), not the generator's.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePhantomStudy, preprocessPath, writePhantomDicom } from '@fedct/pipeline';
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
};
export default run;

if (process.argv[2] === '--child' && process.argv[3]) {
  child(process.argv[3]).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
