import { createNonce, fromBase64, seal, type EnvelopeHeader } from '@fedct/crypto';
import { classifierInputSize, cnn3dInputSize, fnv1aSeed } from '@fedct/pipeline';
import { encodeModelBlob, NO_BASE_MODEL, type ModelBlob, type Task } from '@fedct/protocol';
import type { SecAggSession } from '../client/secagg-session';
import type { SiteFolder } from '../site/site-folder';
import { checkTask, effectiveDp } from '../site/site-policy';
import { CoordinatorLinkError, PolicyViolationError } from '../util/errors';
import type { Logger } from '../util/logger';
import { controlSlices, infectionVolumes, localSampleCount } from './local-data';
import { privacyWithRound, privatiseUpdate } from './privacy';
import type { TrainingEngine } from './training-engine';

/** What a local round needs from the daemon around it: models by reference, and progress reporting. */
export interface LocalRoundContext {
  site: SiteFolder;
  engine: TrainingEngine;
  logger: Logger;
  siteId: string;
  /** Downloads (or reads from the site's store) a model the task names, verified against its sha256. */
  fetchModel(ref: NonNullable<Task['baseModel']>, phase: 'denoiser' | 'classifier', recordLatest?: boolean): Promise<{ blob: ModelBlob; sha256: string }>;
  /** The stage the daemon reports (`status`). */
  setStage(stage: 'downloading' | 'training'): void;
  /** Progress of long local work (logged at most every few seconds). */
  progress(what: string): (done: number, total: number) => void;
  /** Seeds local training (shuffles, Perlin noise) together with experiment and round. */
  seed?: number;
  /** DP noise source (seeded in tests); default: secure random. */
  dpRandom?: () => number;
}

/** A refusal by the site's own rules (its policy, its privacy budget): reported to the coordinator, not an error. */
export interface Refusal {
  rule: string;
  reason: string;
}

/**
 * One training round at the site: the task checked against the site's policy and privacy budget,
 * the base model (and for the classifier the frozen denoiser) downloaded, local training, validation
 * on the local `val` split, differential privacy and the norm bound applied, and the update sealed to
 * the coordinator (under secure aggregation, the masked delta). Returns the sealed envelope, or the
 * refusal when the site's rules say no. Nothing but the sealed update leaves the site.
 */
export async function runLocalRound(task: Task, ctx: LocalRoundContext, secagg: SecAggSession | null): Promise<{ sealed: Uint8Array } | { refused: Refusal }> {
  const trained = await train(task, ctx, secagg);
  if ('refused' in trained) return trained;
  let payload: Uint8Array;
  if (task.secAgg) {
    if (!secagg || secagg.task !== task) throw new CoordinatorLinkError('secure-aggregation session was lost', 'secagg_failed');
    const delta = new Float32Array(trained.weights.weights.length);
    for (let i = 0; i < delta.length; i++) delta[i] = (trained.weights.weights[i] ?? 0) - (trained.base.weights[i] ?? 0);
    payload = await secagg.mask(delta, trained.header.sampleCount, Date.parse(task.deadline));
  } else {
    payload = encodeModelBlob(trained.weights);
  }
  const sealed = seal(trained.header, payload, ctx.site.identity().signing.secretKey, fromBase64(ctx.site.requireEnrollment().coordinator.boxPublicKey));
  return { sealed };
}

/** The site's rules for a task (policy, deadline, ε budget): the refusal, or what DP and privacy accounting apply. */
function admit(task: Task, ctx: LocalRoundContext): { refused: Refusal } | { dp: ReturnType<typeof effectiveDp>; privacy: ReturnType<typeof privacyWithRound> | null } {
  const { site } = ctx;
  const dpTask = task.hyper.dp.required || task.hyper.dp.clipNorm !== undefined ? { clipNorm: task.hyper.dp.clipNorm ?? 1, noiseMultiplier: task.hyper.dp.noiseMultiplier ?? 0 } : null;
  const terms = { phase: task.phase, localEpochs: task.hyper.localEpochs, modelBytes: task.baseModel?.bytes ?? null, secureAggregation: task.secAgg !== undefined, dp: dpTask };
  try {
    checkTask(site.policy, terms, localSampleCount(site, task.phase));
    if (Date.parse(task.deadline) < Date.now()) throw new PolicyViolationError(`the round's deadline ${task.deadline} has passed`, 'deadline');
  } catch (error) {
    if (!(error instanceof PolicyViolationError)) throw error;
    return { refused: { rule: error.rule, reason: error.message } };
  }
  const dp = effectiveDp(site.policy, terms);
  const privacy = dp && dp.noiseMultiplier > 0 ? privacyWithRound(site.index, task.experiment, task.round, dp.noiseMultiplier, task.hyper.dp.delta ?? 1e-5) : null;
  if (privacy && task.hyper.dp.maxEpsilon !== undefined && privacy.epsilon > task.hyper.dp.maxEpsilon) {
    return { refused: { rule: 'maxEpsilon', reason: `taking part would spend ε = ${privacy.epsilon.toFixed(2)} in this experiment, above its limit ${task.hyper.dp.maxEpsilon}` } };
  }
  return { dp, privacy };
}

/**
 * Trains for a task; returns the envelope header, the weights to send (after DP and the norm bound)
 * and what they are relative to, or the refusal.
 */
async function train(task: Task, ctx: LocalRoundContext, secagg: SecAggSession | null): Promise<{ header: EnvelopeHeader; weights: ModelBlob; base: ModelBlob } | { refused: Refusal }> {
  const { site, logger, engine } = ctx;
  const admitted = admit(task, ctx);
  if ('refused' in admitted) return admitted;
  const { dp, privacy } = admitted;
  await secagg?.advertise();
  ctx.setStage('downloading');
  const base = task.baseModel ? await ctx.fetchModel(task.baseModel, task.phase) : null;
  // Repeatable: the same experiment settings (initSeed, phase, round) give this site the same shuffles,
  // pseudo-infection and dropout masks in every run (experiment and site ids are random per run).
  const seed = fnv1aSeed(`${ctx.seed ?? 0}/${task.initSeed}/${task.phase}/${task.round}/${site.config.site.name}`);
  // Round 1 without a global model: build from the experiment's sizes so every site's shapes agree.
  const modelConfig = !base && task.modelConfig ? { modelConfig: task.modelConfig } : {};
  ctx.setStage('training');
  const started = Date.now();
  let outcome;
  let validation: Record<string, number> = {};
  if (task.phase === 'denoiser') {
    const slices = controlSlices(site, 'train');
    logger.info('training denoiser', { slices: slices.count, epochs: task.hyper.localEpochs });
    outcome = await engine.trainDenoiser({ base: base?.blob ?? null, initSeed: task.initSeed, ...modelConfig, hyper: task.hyper, seed, slices, onProgress: ctx.progress('training denoiser') });
    const val = controlSlices(site, 'val');
    if (val.count > 0) validation = await engine.evaluateDenoiser({ weights: outcome.weights, slices: val, seed: 1 });
  } else {
    if (!task.denoiser) throw new CoordinatorLinkError('classifier task names no frozen BCDU-Net (denoiser)', 'bad_task');
    const denoiser = await ctx.fetchModel(task.denoiser, 'denoiser');
    const input = base ? classifierInputSize(base.blob) : task.modelConfig ? cnn3dInputSize(task.modelConfig) : undefined;
    const trainSet = await infectionVolumes(site, engine, denoiser, 'train', input, ctx.progress('infection volumes'));
    logger.info('training classifier', { studies: trainSet.length, epochs: task.hyper.localEpochs, denoiser: denoiser.sha256.slice(0, 12) });
    outcome = await engine.trainClassifier({ base: base?.blob ?? null, initSeed: task.initSeed, ...modelConfig, hyper: task.hyper, seed, volumes: trainSet, onProgress: ctx.progress('training classifier') });
    const val = await infectionVolumes(site, engine, denoiser, 'val', input);
    if (val.length > 0) validation = await engine.evaluateClassifier({ weights: outcome.weights, volumes: val });
  }
  const { weights, report } = privatiseUpdate(base?.blob ?? outcome.initial, outcome.weights, { dp, normBound: task.normBound, ...(ctx.dpRandom ? { random: ctx.dpRandom } : {}) });
  const metrics: Record<string, number> = {};
  for (const [name, value] of Object.entries(outcome.metrics)) if (Number.isFinite(value)) metrics[name] = value;
  for (const [name, value] of Object.entries(validation)) if (Number.isFinite(value)) metrics[`val_${name}`] = value;
  metrics.train_seconds = (Date.now() - started) / 1000;
  metrics.update_norm = report.deltaNorm;
  if (report.noiseStddev > 0) metrics.dp_noise_stddev = report.noiseStddev;
  if (privacy) {
    metrics.dp_epsilon = privacy.epsilon;
    privacy.commit();
  }
  const header: EnvelopeHeader = {
    experiment: task.experiment,
    round: task.round,
    site: ctx.siteId,
    baseModelSha256: task.baseModel?.sha256 ?? NO_BASE_MODEL,
    sampleCount: outcome.sampleCount,
    metrics,
    nonce: createNonce(),
    time: new Date().toISOString(),
  };
  logger.info('local training done', { experiment: task.experiment, round: task.round, samples: outcome.sampleCount, seconds: Math.round(metrics.train_seconds), dp: dp !== null });
  return { header, weights, base: base?.blob ?? outcome.initial };
}
