import { existsSync } from 'node:fs';
import { extname, isAbsolute, resolve } from 'node:path';
import { ConfigError, loadConfigFile } from '@fedct/protocol';
import { z } from 'zod';
import { BACKEND_NAMES } from './backend/backend';

const positiveInt = z.number().int().positive();

/** BCDU-Net sizes (spec §2). */
export const bcduNetConfigSchema = z.object({
  size: positiveInt.refine((n) => n % 8 === 0, { message: 'must be a multiple of 8' }),
  base: positiveInt.refine((n) => n >= 2 && n % 2 === 0, { message: 'must be an even number >= 2' }),
  dropout: z.number().min(0).lt(1).default(0.5),
}).strict();

/** 3-D CNN sizes (spec §5). */
export const cnn3dConfigSchema = z.object({
  inputShape: z.tuple([positiveInt, positiveInt, positiveInt]),
  filters: z.array(positiveInt).min(1),
  denseUnits: positiveInt.default(32),
  dropout: z.number().min(0).lt(1).default(0.3),
  classes: z.literal(3).default(3),
  /** Not in the paper: BatchNorm after each convolution (see `Cnn3dConfig.batchNorm`). */
  batchNorm: z.boolean().optional(),
  /** Not in the paper: group normalisation with this many groups after each convolution (see `Cnn3dConfig.groupNorm`). */
  groupNorm: positiveInt.optional(),
  /** Not in the paper: leaky ReLU slope (0 = ReLU). */
  leakyRelu: z.number().min(0).lt(1).optional(),
}).strict();

const phaseSchema = z.object({
  epochs: positiveInt,
  batchSize: positiveInt,
  learningRate: z.number().positive(),
  /** FedProx proximal term (0 = FedAvg local training). */
  proximalMu: z.number().min(0).default(0),
}).strict();

/**
 * A compute profile (`configs/profiles/NAME.yaml`): model sizes and per-phase training settings.
 * Unknown top-level sections are kept (other parts of the system add theirs); the demo's settings
 * live under `demo`.
 */
export const profileSchema = z.looseObject({
  name: z.string().min(1),
  description: z.string().default(''),
  /** Compute backend: `auto` tries tensorflow-gpu → tensorflow → wasm → cpu. */
  backend: z.enum(['auto', ...BACKEND_NAMES]).default('auto'),
  models: z.object({ bcdunet: bcduNetConfigSchema, cnn3d: cnn3dConfigSchema }).strict(),
  training: z.object({
    denoiser: phaseSchema.extend({ noisyFraction: z.number().min(0).max(1).default(0.5) }).strict(),
    classifier: phaseSchema,
  }).strict(),
  /** Settings of `npm run demo` (validated by the demo). */
  demo: z.record(z.string(), z.unknown()).optional(),
}).superRefine((p, ctx) => {
  const problem = classifierSizeProblem(p.models.cnn3d.inputShape, p.models.bcdunet.size);
  if (problem) ctx.addIssue({ code: 'custom', path: ['models', 'cnn3d', 'inputShape'], message: problem });
});
export type Profile = z.infer<typeof profileSchema>;

/**
 * Why a classifier input shape cannot read a denoiser's infection maps, or null when it can: square
 * slices no larger than the denoiser's (the spec uses its size; a smaller one averages the map down).
 */
export function classifierSizeProblem(inputShape: readonly number[], denoiserSize: number): string | null {
  const [, h, w] = inputShape;
  if (h !== w || (h ?? 0) > denoiserSize) {
    return `height and width (${h} × ${w}) must be equal and at most models.bcdunet.size (${denoiserSize}): the classifier reads the denoiser's infection maps`;
  }
  return null;
}

/** The built-in profiles, in configs/profiles. */
export const PROFILE_NAMES = ['tiny', 'default', 'paper'] as const;

/** Folder of the built-in profiles (configs/profiles at the repository root). */
export const PROFILES_DIR = resolve(__dirname, '../../../configs/profiles');

/**
 * Loads a profile by name (`tiny`, `default`, `paper`: configs/profiles/NAME.yaml) or from a YAML/JSON
 * file path, validated with {@link profileSchema}.
 * @throws ConfigError (from @fedct/protocol) with a one-line message when missing or invalid.
 */
export function loadProfile(nameOrFile: string): Profile {
  const isPath = nameOrFile.includes('/') || nameOrFile.includes('\\') || ['.yaml', '.yml', '.json'].includes(extname(nameOrFile));
  const file = isPath ? (isAbsolute(nameOrFile) ? nameOrFile : resolve(nameOrFile)) : resolve(PROFILES_DIR, `${nameOrFile}.yaml`);
  if (!isPath && !existsSync(file)) {
    throw new ConfigError(`Unknown profile "${nameOrFile}": use ${PROFILE_NAMES.join(', ')} or the path of a profile file`);
  }
  return loadConfigFile(profileSchema, file);
}
