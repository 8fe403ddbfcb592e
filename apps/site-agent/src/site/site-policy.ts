import { existsSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { z } from 'zod';
import { loadConfigFile } from '@fedct/protocol';
import { PolicyViolationError } from '../util/errors';
import type { SitePaths } from './site-paths';

/**
 * `DIR/policy.yaml`: the site's own rules. The coordinator cannot change them; a task that breaks one
 * is refused with the rule's name and a sentence saying why.
 */
export const sitePolicySchema = z
  .object({
    /** Phases this site takes part in. */
    acceptPhases: z.array(z.enum(['denoiser', 'classifier'])).min(1).default(['denoiser', 'classifier']),
    /** Most local epochs a task may ask for. */
    maxLocalEpochs: z.number().int().positive().default(10),
    /** Fewest local training samples (slices for the denoiser, studies for the classifier) before taking part. */
    minLocalSamples: z.number().int().nonnegative().default(1),
    /** Largest base model to download, MB. */
    maxModelMb: z.number().positive().default(200),
    /** If set, every update leaves with at least this differential privacy, whatever the task says. */
    requireDp: z
      .object({
        /** Largest allowed L2 clip norm of the update delta. */
        maxClipNorm: z.number().positive(),
        /** Smallest allowed Gaussian noise multiplier (stddev = multiplier × clip norm). */
        minNoiseMultiplier: z.number().nonnegative(),
      })
      .strict()
      .nullable()
      .default(null),
    /** Refuse rounds that do not use secure aggregation. */
    requireSecureAggregation: z.boolean().default(false),
    /**
     * Download every model version the coordinator announces as published (`model.published`, and the
     * latest per phase after connecting), so `predict --model latest` has an experiment's final model.
     * Models larger than `maxModelMb` are not fetched.
     */
    fetchPublishedModels: z.boolean().default(true),
    /**
     * Federated evaluation: which of this site's splits the coordinator may have a model measured on,
     * and the fewest studies a split must have (aggregate counts of very few studies tell too much
     * about each of them). Only aggregate counts leave the site.
     */
    evaluation: z
      .object({
        splits: z.array(z.enum(['val', 'test'])).default(['val', 'test']),
        minStudies: z.number().int().positive().default(10),
      })
      .strict()
      .default({ splits: ['val', 'test'], minStudies: 10 }),
  })
  .strict();
export type SitePolicy = z.output<typeof sitePolicySchema>;

/** The default policy written by `init`. */
export const DEFAULT_POLICY: SitePolicy = sitePolicySchema.parse({});

/** Reads `DIR/policy.yaml` (defaults when absent). */
export function loadSitePolicy(paths: SitePaths): SitePolicy {
  return existsSync(paths.policy) ? loadConfigFile(sitePolicySchema, paths.policy) : DEFAULT_POLICY;
}

/** Writes `DIR/policy.yaml` with comments. */
export function writeSitePolicy(paths: SitePaths, policy: SitePolicy): void {
  const header = '# This site\'s own rules for training tasks; the coordinator cannot change them.\n# A task that breaks one is refused with the reason. See configs/site-policy.example.yaml.\n';
  writeFileSync(paths.policy, header + stringify(policy), { mode: 0o600 });
}

/** What of a task the policy looks at. */
export interface TaskTerms {
  phase: 'denoiser' | 'classifier';
  localEpochs: number;
  modelBytes: number | null;
  secureAggregation: boolean;
  dp: { clipNorm: number; noiseMultiplier: number } | null;
}

/** The DP to apply: the stricter of what the task asks and what the policy requires (null: none). */
export function effectiveDp(policy: SitePolicy, task: TaskTerms): { clipNorm: number; noiseMultiplier: number } | null {
  const req = policy.requireDp;
  if (!req) return task.dp;
  if (!task.dp) return { clipNorm: req.maxClipNorm, noiseMultiplier: req.minNoiseMultiplier };
  return { clipNorm: Math.min(task.dp.clipNorm, req.maxClipNorm), noiseMultiplier: Math.max(task.dp.noiseMultiplier, req.minNoiseMultiplier) };
}

/** Throws {@link PolicyViolationError} when the policy does not let this split (of `studies`) be evaluated. */
export function checkEvaluation(policy: SitePolicy, split: 'val' | 'test', studies: number): void {
  if (!policy.evaluation.splits.includes(split)) {
    throw new PolicyViolationError(`this site does not let models be evaluated on its ${split} split (policy evaluation.splits: ${policy.evaluation.splits.join(', ') || 'none'})`, 'evaluation.splits');
  }
  if (studies < policy.evaluation.minStudies) {
    throw new PolicyViolationError(`only ${studies} ${split} studies here, policy evaluation.minStudies requires ${policy.evaluation.minStudies}`, 'evaluation.minStudies');
  }
}

/**
 * Throws {@link PolicyViolationError} naming the first rule the task breaks. `samples` is how many local
 * training samples the phase would use. Missing DP in a task is not a violation: the site adds its own.
 */
export function checkTask(policy: SitePolicy, task: TaskTerms, samples: number): void {
  if (!policy.acceptPhases.includes(task.phase)) {
    throw new PolicyViolationError(`this site does not take part in ${task.phase} training (policy acceptPhases: ${policy.acceptPhases.join(', ')})`, 'acceptPhases');
  }
  if (task.localEpochs > policy.maxLocalEpochs) {
    throw new PolicyViolationError(`task asks for ${task.localEpochs} local epochs, policy allows at most ${policy.maxLocalEpochs}`, 'maxLocalEpochs');
  }
  if (samples < policy.minLocalSamples) {
    throw new PolicyViolationError(`only ${samples} local ${task.phase === 'denoiser' ? 'control slices' : 'studies'} for training, policy requires at least ${policy.minLocalSamples}`, 'minLocalSamples');
  }
  if (task.modelBytes !== null && task.modelBytes > policy.maxModelMb * 1e6) {
    throw new PolicyViolationError(`base model is ${(task.modelBytes / 1e6).toFixed(1)} MB, policy allows at most ${policy.maxModelMb} MB`, 'maxModelMb');
  }
  if (policy.requireSecureAggregation && !task.secureAggregation) {
    throw new PolicyViolationError('task does not use secure aggregation, which this site\'s policy requires', 'requireSecureAggregation');
  }
}
