import { createNonce } from '@fedct/crypto';
import { classifierInputSize, hasBatchNorm } from '@fedct/pipeline';
import { CLASS_INDEX, evaluationCounts, type EvaluationCounts, type EvaluationResultMessage, type EvaluationSplit, type Task } from '@fedct/protocol';
import { MIN_CALIBRATION_STUDIES, siteArchive, type LoadedModel } from '../predict/predict.service';
import type { SiteFolder } from '../site/site-folder';
import { checkEvaluation } from '../site/site-policy';
import type { LocalRoundContext, Refusal } from '../training/local-round';
import { CoordinatorLinkError, PolicyViolationError } from '../util/errors';
import { infectionVolumes } from '../training/local-data';
import type { TrainingEngine } from '../training/training-engine';

/** What a site measured: the counts it may send, and how the classifier was run. */
export interface LocalMeasurement {
  counts: EvaluationCounts;
  /** Per scanner model, the studies whose BatchNorm statistics the classifier used (site-local); empty without BatchNorm. */
  calibration: Record<string, number>;
}

/**
 * Measures a classifier (with its frozen denoiser) on one split of this site's studies, as `predict`
 * runs it: infection volumes with the denoiser (the site's cache), site-local BatchNorm statistics per
 * scanner model where the classifier has BatchNorm and the site has {@link MIN_CALIBRATION_STUDIES}
 * studies of that scanner model (else its own statistics), then the classifier. Returns only the
 * aggregate counts (@fedct/protocol evaluation.ts) and which statistics were used.
 */
export async function measureLocally(args: {
  site: SiteFolder;
  engine: TrainingEngine;
  classifier: LoadedModel;
  denoiser: LoadedModel;
  split: EvaluationSplit;
  onProgress?: (done: number, total: number) => void;
}): Promise<LocalMeasurement> {
  const { site, engine } = args;
  const studies = site.index.list({ split: args.split });
  const input = classifierInputSize(args.classifier.blob);
  const volumes = await infectionVolumes(site, engine, args.denoiser, args.split, input, args.onProgress);
  const archive = siteArchive(site, engine);
  const calibration: Record<string, number> = {};
  const byScanner = new Map<string, number[]>();
  studies.forEach((s, i) => byScanner.set(s.scanner, [...(byScanner.get(s.scanner) ?? []), i]));
  const probabilities: number[][] = new Array<number[]>(studies.length);
  for (const [scanner, indices] of byScanner) {
    let weights = args.classifier.blob;
    if (hasBatchNorm(weights) && scanner !== '') {
      const own = await archive(scanner, args.denoiser, input);
      if (own.length >= MIN_CALIBRATION_STUDIES) {
        weights = await engine.calibrateClassifier({ weights, volumes: own });
        calibration[scanner] = own.length;
      }
    }
    for (const i of indices) {
      const v = volumes[i]!;
      probabilities[i] = await engine.classify({ weights, volume: v.data, shape: v.shape });
    }
  }
  return { counts: evaluationCounts(studies.map((s) => CLASS_INDEX[s.label]), probabilities), calibration };
}

/**
 * An `evaluate` task at this site: the policy must allow the split and the site must have enough of
 * its studies; the classifier and its denoiser are downloaded (not recorded as the latest models) and
 * measured ({@link measureLocally}). Returns the `evaluation.result` message (aggregate counts only),
 * or the refusal by the site's rules.
 */
export async function runLocalEvaluation(task: Task, ctx: Omit<LocalRoundContext, 'setStage'> & { setStage(stage: 'downloading' | 'evaluating'): void }): Promise<{ message: EvaluationResultMessage; calibration: Record<string, number> } | { refused: Refusal }> {
  const { site } = ctx;
  const split = task.evaluation?.split ?? 'val';
  try {
    checkEvaluation(site.policy, split, site.index.list({ split }).length);
  } catch (error) {
    if (error instanceof PolicyViolationError) return { refused: { rule: error.rule, reason: error.message } };
    throw error;
  }
  if (!task.baseModel || !task.denoiser) throw new CoordinatorLinkError('evaluation task names no classifier or no denoiser', 'bad_task');
  ctx.setStage('downloading');
  const classifier = await ctx.fetchModel(task.baseModel, 'classifier', false);
  const denoiser = await ctx.fetchModel(task.denoiser, 'denoiser', false);
  ctx.setStage('evaluating');
  const { counts, calibration } = await measureLocally({
    site, engine: ctx.engine, split, onProgress: ctx.progress('evaluation'),
    classifier: { ...classifier, version: task.baseModel.version }, denoiser: { ...denoiser, version: task.denoiser.version },
  });
  return { message: { experiment: task.experiment, round: task.round, classifierSha256: classifier.sha256, split, nonce: createNonce(), counts }, calibration };
}
