import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { classifierSizeProblem, cnn3dConfigSchema } from '@fedct/pipeline';
import { learningRateScheduleSchema } from '@fedct/protocol';
import { z } from 'zod';
import { CLASS_NAMES, type ClassName } from './report/report.types';
import { DemoError } from './errors';

const studyCount = z.number().int().nonnegative();
/** Studies per class, keys in output order. */
const countsSchema = z.object(Object.fromEntries(CLASS_NAMES.map((name) => [name, studyCount])) as Record<ClassName, typeof studyCount>).strict();

const hospitalSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]+$/),
    /** Phantom scanner profile name (`fedct-site phantom --scanner`). */
    scanner: z.string().min(1),
    train: countsSchema,
    val: countsSchema,
  })
  .strict();

const phaseSchema = z
  .object({
    rounds: z.number().int().positive(),
    localEpochs: z.number().int().positive(),
    batchSize: z.number().int().positive(),
    learningRate: z.number().positive(),
    /** `cosine`: down to a tenth of `learningRate` by the last round (the baselines follow the same rates). */
    learningRateSchedule: learningRateScheduleSchema.default('constant'),
    minSites: z.number().int().positive(),
    strategy: z.enum(['fedavg', 'fedprox', 'fedadam', 'fedyogi', 'trimmed-mean', 'median']).default('fedavg'),
    secureAgg: z.boolean().default(false),
    roundDeadlineSeconds: z.number().positive().default(600),
    /** Classifier phase (and its baselines): class-balanced local epochs, seeded left-right flips. */
    classBalanced: z.boolean().default(false),
    flipAugment: z.boolean().default(false),
  })
  .strict();

const networksSchema = z
  .object({
    bcdunet: z.object({ size: z.number().int().positive(), base: z.number().int().positive(), dropout: z.number().min(0).max(0.99).optional() }).strict(),
    cnn3d: cnn3dConfigSchema,
  })
  .strict();

/** The `demo:` section of a profile (configs/profiles/NAME.yaml); every key has a built-in default. */
export const demoSettingsSchema = z
  .object({
    seed: z.number().int().nonnegative(),
    hospitals: z.array(hospitalSchema).min(1),
    /** The test-only hospital; with several scanners its studies of each class alternate between them. */
    external: z
      .object({
        name: z.string().regex(/^[A-Za-z0-9._-]+$/),
        scanner: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
        counts: countsSchema,
        /**
         * The external hospital's unlabeled archive, per class (scanners alternating as for the test
         * set): a BatchNorm classifier takes its inference statistics from these, per scanner model
         * (site-local statistics, `calibrateClassifier`); their labels are never read. None = the
         * model's own statistics.
         */
        calibration: countsSchema.optional(),
      })
      .strict(),
    /**
     * Network sizes of the initial models the demo uploads (sites train whatever sizes the global
     * models have): the profile's `models` section unless overridden here. The classifier's slices
     * are square and no larger than the denoiser's size (smaller ones average the infection map down).
     */
    networks: networksSchema,
    denoiser: phaseSchema,
    classifier: phaseSchema,
    /** How studies are written: `cli` = `fedct-site phantom` per study, `library` = the same writer in-process (faster). */
    phantoms: z.enum(['cli', 'library']),
    /**
     * `library` only: source slices per study (thin phantoms, the anatomy scales to them), which cuts
     * every later step (import, denoiser training, infection extraction); absent = the scanner's coverage.
     */
    phantomSlices: z.number().int().min(4).optional(),
    /** Sample slices with infection maps in the HTML report. */
    samples: z.number().int().nonnegative(),
    /** The whole demo must finish within this (a stuck run fails instead of hanging). */
    timeoutMinutes: z.number().positive(),
  })
  .strict();
export type DemoSettings = z.infer<typeof demoSettingsSchema>;

const c = (control: number, covid: number, cap: number): z.infer<typeof countsSchema> => ({ control, 'covid-19': covid, cap });

/**
 * Built-in settings per profile. Three hospitals with different scanners and class balances
 * (non-identical data, as in real consortia) and a fourth, external hospital for the test set.
 */
export const DEMO_DEFAULTS: Record<'tiny' | 'default' | 'paper', Omit<z.input<typeof demoSettingsSchema>, 'networks'>> = {
  tiny: {
    seed: 1,
    hospitals: [
      { name: 'hospital-a', scanner: 'tiny', train: c(14, 11, 11), val: c(1, 1, 1) },
      { name: 'hospital-b', scanner: 'ge-lightspeed', train: c(11, 14, 11), val: c(1, 1, 1) },
      { name: 'hospital-c', scanner: 'toshiba-aquilion', train: c(11, 11, 14), val: c(1, 1, 1) },
    ],
    external: { name: 'external-hospital', scanner: 'tiny', counts: c(10, 10, 10) },
    // One round, as the default profile (its comment), and half the CI run's denoiser time.
    denoiser: { rounds: 1, localEpochs: 1, batchSize: 8, learningRate: 1e-3, minSites: 3, strategy: 'fedavg', secureAgg: false, roundDeadlineSeconds: 300 },
    // One local epoch per round (FedAvg drifts less with fewer local epochs on non-identical sites):
    // half the CI run's classifier and baseline compute. Chosen for the time budget, not on results.
    classifier: {
      rounds: 20, localEpochs: 1, batchSize: 4, learningRate: 1e-3, minSites: 3, strategy: 'fedavg', secureAgg: false, roundDeadlineSeconds: 300,
      classBalanced: true, flipAugment: true,
    },
    phantoms: 'library',
    phantomSlices: 12,
    samples: 3,
    timeoutMinutes: 10,
  },
  default: {
    seed: 1,
    hospitals: [
      { name: 'hospital-a', scanner: 'siemens-definition', train: c(24, 18, 18), val: c(1, 1, 1) },
      { name: 'hospital-b', scanner: 'ge-lightspeed', train: c(18, 24, 18), val: c(1, 1, 1) },
      { name: 'hospital-c', scanner: 'philips-ingenuity', train: c(18, 18, 24), val: c(1, 1, 1) },
    ],
    // The external hospital has the consortium's three scanner models: no single hospital has seen them all.
    external: { name: 'external-hospital', scanner: ['siemens-definition', 'ge-lightspeed', 'philips-ingenuity'], counts: c(10, 10, 10), calibration: c(9, 9, 9) },
    // One round: a denoiser trained further learns to keep the phantoms' lesions as anatomy, so the
    // infection maps lose them (docs/research/demo-tuning-2026-11-27.md, seventh session: seeds 1-3, one round against two).
    denoiser: { rounds: 1, localEpochs: 1, batchSize: 8, learningRate: 1e-3, minSites: 3, strategy: 'fedavg', secureAgg: true, roundDeadlineSeconds: 900 },
    classifier: {
      rounds: 24, localEpochs: 3, batchSize: 4, learningRate: 1e-3, learningRateSchedule: 'cosine', minSites: 3, strategy: 'fedavg', secureAgg: true, roundDeadlineSeconds: 900,
      classBalanced: true, flipAugment: true,
    },
    phantoms: 'library',
    phantomSlices: 16,
    samples: 3,
    timeoutMinutes: 30,
  },
  paper: {
    seed: 1,
    hospitals: [
      { name: 'hospital-a', scanner: 'siemens-definition', train: c(30, 20, 20), val: c(5, 5, 5) },
      { name: 'hospital-b', scanner: 'ge-lightspeed', train: c(20, 30, 20), val: c(5, 5, 5) },
      { name: 'hospital-c', scanner: 'philips-ingenuity', train: c(20, 20, 30), val: c(5, 5, 5) },
    ],
    external: { name: 'external-hospital', scanner: 'toshiba-aquilion', counts: c(15, 15, 15) },
    denoiser: { rounds: 10, localEpochs: 1, batchSize: 5, learningRate: 1e-3, minSites: 3, strategy: 'fedavg', secureAgg: true, roundDeadlineSeconds: 86_400 },
    classifier: { rounds: 20, localEpochs: 5, batchSize: 16, learningRate: 1e-4, minSites: 3, strategy: 'fedavg', secureAgg: true, roundDeadlineSeconds: 86_400 },
    phantoms: 'cli',
    samples: 4,
    timeoutMinutes: 7 * 24 * 60,
  },
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge of plain objects; arrays and scalars in `override` replace. */
export function deepMerge(base: unknown, override: unknown): unknown {
  if (!isRecord(base) || !isRecord(override)) return override === undefined ? base : override;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) out[k] = deepMerge(base[k], v);
  return out;
}

/**
 * The demo settings for a profile: built-in defaults, then the `demo:` section of
 * `configs/profiles/NAME.yaml` (when the file has one) merged on top, validated once.
 */
export function loadDemoSettings(profile: string, repoRoot: string, overrideFile?: string): DemoSettings {
  const defaults = (DEMO_DEFAULTS as Record<string, (typeof DEMO_DEFAULTS)['tiny'] | undefined>)[profile];
  if (!defaults) throw new DemoError(`unknown demo profile "${profile}": use tiny, default or paper`);
  const file = join(repoRoot, 'configs', 'profiles', `${profile}.yaml`);
  let override: unknown = undefined;
  let networks: unknown = undefined;
  if (existsSync(file)) {
    const doc: unknown = parse(readFileSync(file, 'utf8'));
    if (isRecord(doc)) {
      override = doc.demo;
      if (isRecord(doc.models)) networks = { bcdunet: doc.models.bcdunet, cnn3d: { classes: 3, ...(isRecord(doc.models.cnn3d) ? doc.models.cnn3d : {}) } };
    }
  }
  const base = { ...defaults, networks };
  let merged = deepMerge(base, override);
  if (overrideFile) {
    if (!existsSync(overrideFile)) throw new DemoError(`--settings: no such file ${overrideFile}`);
    merged = deepMerge(merged, parse(readFileSync(overrideFile, 'utf8')));
  }
  const parsed = demoSettingsSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DemoError(`Invalid configuration in ${file}: demo.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  const { bcdunet, cnn3d } = parsed.data.networks;
  const problem = classifierSizeProblem(cnn3d.inputShape, bcdunet.size);
  if (problem) throw new DemoError(`Invalid configuration in ${file}: demo.networks.cnn3d.inputShape: ${problem}`);
  return parsed.data;
}

/** The external hospital's scanners as a list. */
export function externalScanners(settings: Pick<DemoSettings, 'external'>): string[] {
  const s = settings.external.scanner;
  return Array.isArray(s) ? s : [s];
}

/** Total studies per class over a list of count records. */
export function sumCounts(counts: readonly z.infer<typeof countsSchema>[]): z.infer<typeof countsSchema> {
  const out = c(0, 0, 0);
  for (const k of counts) for (const name of CLASS_NAMES) out[name] += k[name];
  return out;
}
