import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePhantomStudy, writePhantomDicom } from '@fedct/pipeline';
import { parseDocument } from 'yaml';
import type { AdminClient } from './admin-client';
import { mapLimit } from './concurrency';
import { externalScanners, type DemoSettings } from './demo-settings';
import { CLASS_NAMES, type ClassName } from './report/report.types';
import type { ManagedProcess, Supervisor } from './supervisor';

/** Paths of the two CLIs, relative to the repository root. */
export const SITE_CLI = 'apps/site-agent/bin/fedct-site.js';
export const COORDINATOR_CLI = 'apps/coordinator/bin/fedct-coordinator.js';

/** One synthetic study to write as DICOM. */
export interface PhantomJob {
  owner: string;
  /** `calibration`: the external hospital's unlabeled archive (see the demo settings). */
  split: 'train' | 'val' | 'test' | 'calibration';
  cls: ClassName;
  seed: number;
  scanner: string;
  dir: string;
}

/** The studies of one (owner, split, class) group live in one folder, one sub-folder per study. */
export function groupDir(dataRoot: string, owner: string, split: string, cls: ClassName): string {
  return join(dataRoot, owner, split, cls);
}

/**
 * Every phantom study of the demo with a distinct seed: hospitals' train/val splits, the external
 * hospital's test set and its unlabeled archive. Seeds depend only on the demo seed and the study's place, so runs repeat.
 */
export function planPhantoms(settings: Pick<DemoSettings, 'seed' | 'hospitals' | 'external'>, dataRoot: string): PhantomJob[] {
  const jobs: PhantomJob[] = [];
  const base = settings.seed * 1_000_000;
  settings.hospitals.forEach((h, hi) => {
    (['train', 'val'] as const).forEach((split, si) => {
      CLASS_NAMES.forEach((cls, ci) => {
        for (let i = 0; i < h[split][cls]; i++) {
          const seed = base + hi * 100_000 + si * 10_000 + ci * 1000 + i;
          jobs.push({ owner: h.name, split, cls, seed, scanner: h.scanner, dir: join(groupDir(dataRoot, h.name, split, cls), `study-${seed}`) });
        }
      });
    });
  });
  const scanners = externalScanners(settings);
  CLASS_NAMES.forEach((cls, ci) => {
    for (let i = 0; i < settings.external.counts[cls]; i++) {
      const seed = base + 900_000 + ci * 1000 + i;
      jobs.push({ owner: settings.external.name, split: 'test', cls, seed, scanner: scanners[i % scanners.length] as string, dir: join(groupDir(dataRoot, settings.external.name, 'test', cls), `study-${seed}`) });
    }
  });
  // After every other study, so adding an archive changes no other study's seed.
  CLASS_NAMES.forEach((cls, ci) => {
    for (let i = 0; i < (settings.external.calibration?.[cls] ?? 0); i++) {
      const seed = base + 950_000 + ci * 1000 + i;
      jobs.push({ owner: settings.external.name, split: 'calibration', cls, seed, scanner: scanners[i % scanners.length] as string, dir: join(groupDir(dataRoot, settings.external.name, 'calibration', cls), `study-${seed}`) });
    }
  });
  return jobs;
}

/** The phantoms one `phantom-process.ts` writes. */
export interface PhantomShard {
  jobs: PhantomJob[];
  slices?: number | undefined;
}

/** Writes phantom studies in this process with the generator and DICOM writer of @fedct/pipeline. */
export async function writePhantomJobs(jobs: readonly PhantomJob[], slices: number | undefined, onDone: (done: number) => void): Promise<void> {
  let done = 0;
  for (const job of jobs) {
    mkdirSync(job.dir, { recursive: true });
    await writePhantomDicom(generatePhantomStudy({ cls: job.cls, seed: job.seed, scanner: job.scanner, ...(slices ? { slices } : {}) }), job.dir);
    onDone(++done);
  }
}

/**
 * Writes every phantom as a DICOM series. `cli`: one `fedct-site phantom` process per study,
 * `parallel` at a time. `library`: the same generator and writer (`generatePhantomStudy`,
 * `writePhantomDicom`) in `parallel` processes that each write a share of the studies (in this
 * process when `parallel` is 1), which saves about 1.5 s of process start per study, and can make
 * thin studies (`slices`). Each study depends only on its own seed, so the shares do not change them.
 */
export async function writePhantoms(
  supervisor: Supervisor,
  jobs: readonly PhantomJob[],
  options: { mode: 'cli' | 'library'; slices?: number | undefined; parallel: number; workDir: string },
  onDone: (done: number) => void,
): Promise<void> {
  const { mode, parallel } = options;
  if (mode === 'library' && parallel <= 1) return writePhantomJobs(jobs, options.slices, onDone);
  if (mode === 'library') {
    const shards = Array.from({ length: Math.min(parallel, jobs.length) }, (_, k) => jobs.filter((_, i) => i % parallel === k));
    const counts = shards.map(() => 0);
    mkdirSync(options.workDir, { recursive: true });
    await Promise.all(shards.map(async (shard, k) => {
      const file = join(options.workDir, `phantoms-${k + 1}.json`);
      writeFileSync(file, JSON.stringify({ jobs: shard, slices: options.slices } satisfies PhantomShard));
      await supervisor.run(`phantoms-${k + 1}`, 'scripts/run-ts.js', ['scripts/demo/phantom-process.ts', file], {
        timeoutMs: 30 * 60_000,
        onLine: (line) => {
          const m = /^wrote (\d+)$/.exec(line);
          if (!m) return;
          counts[k] = Number(m[1]);
          onDone(counts.reduce((a, b) => a + b, 0));
        },
      });
    }));
    return;
  }
  let done = 0;
  await mapLimit(jobs, parallel, async (job) => {
    mkdirSync(job.dir, { recursive: true });
    await supervisor.run(`phantom-${job.owner}-${job.split}-${job.cls}-${job.seed}`, SITE_CLI, ['phantom', '--out', job.dir, '--class', job.cls, '--seed', String(job.seed), '--scanner', job.scanner], { timeoutMs: 120_000 });
    onDone(++done);
  });
}

/** A hospital as the demo drives it. */
export interface HospitalHandle {
  name: string;
  scanner: string;
  dir: string;
  daemon: ManagedProcess | null;
}

/** The studies a site imports, per split and class; `calibration` = the unlabeled archive (`import --archive`). */
export type SiteImports = Partial<Record<'train' | 'val' | 'test' | 'calibration', Record<ClassName, number>>>;

/** What a demo site's policy lets federated evaluations measure (policy.yaml `evaluation`). */
export interface EvaluationPolicy {
  splits: ('val' | 'test')[];
  minStudies: number;
}

/**
 * Creates a hospital's site folder, sets its policy's `evaluation` rules (as hospital IT edits
 * policy.yaml), enrols it with a fresh one-time token and imports its studies (one
 * `import --labels-from-folders` per split, `import --archive` for an unlabeled archive), all through
 * `fedct-site` (init, enroll, import), as hospital IT would.
 */
export async function setUpHospital(
  supervisor: Supervisor,
  admin: AdminClient,
  options: { name: string; scanner: string; sitesRoot: string; dataRoot: string; profile: string; imports: SiteImports; evaluation: EvaluationPolicy },
): Promise<HospitalHandle> {
  const dir = join(options.sitesRoot, options.name);
  await supervisor.run(`init-${options.name}`, SITE_CLI, ['init', dir, '--name', options.name, '--profile', options.profile, '--json']);
  setEvaluationPolicy(join(dir, 'policy.yaml'), options.evaluation);
  const { token } = await admin.createEnrollmentToken(options.name);
  await supervisor.run(`enroll-${options.name}`, SITE_CLI, ['enroll', '--site', dir, '--coordinator', admin.url, '--token', token, '--json']);
  // One import per split: the split's folder holds one folder per class (--labels-from-folders).
  for (const split of ['train', 'val', 'test', 'calibration'] as const) {
    const counts = options.imports[split];
    if (!counts || CLASS_NAMES.every((cls) => counts[cls] === 0)) continue;
    const how = split === 'calibration' ? ['--archive'] : ['--labels-from-folders', '--split', split];
    await supervisor.run(`import-${options.name}-${split}`, SITE_CLI, ['import', join(options.dataRoot, options.name, split), ...how, '--site', dir, '--json'], { timeoutMs: 600_000 });
  }
  return { name: options.name, scanner: options.scanner, dir, daemon: null };
}

/** Rewrites the `evaluation` section of a site's policy.yaml, keeping the rest and its comments. */
export function setEvaluationPolicy(file: string, evaluation: EvaluationPolicy): void {
  const doc = parseDocument(readFileSync(file, 'utf8'));
  doc.setIn(['evaluation'], doc.createNode(evaluation));
  writeFileSync(file, doc.toString(), { mode: 0o600 });
}

/**
 * Starts (or restarts) the hospital's daemon `fedct-site run`, with `threads` compute threads (the
 * daemons train at the same time and share this machine's cores).
 */
export function startDaemon(supervisor: Supervisor, hospital: HospitalHandle, threads: number, onLine?: (line: string) => void): ManagedProcess {
  hospital.daemon = supervisor.start(`daemon-${hospital.name}`, SITE_CLI, ['run', '--site', hospital.dir], { env: { FEDCT_THREADS: String(threads) }, ...(onLine ? { onLine } : {}) });
  return hospital.daemon;
}
