import { EVALUATION_BINS, scheduledLearningRate, type ModelRef, type Task } from '@fedct/protocol';
import type { ActiveRound } from './active-round';

/**
 * The task every participant of a round gets: what to train from (base model, or the seed and model
 * configuration in round 1 without one), the frozen denoiser, the hyper-parameters of this round
 * (the learning-rate schedule, the strategy's extras such as FedProx μ), the deadline, the norm bound,
 * the chunk size and, under secure aggregation, the round's public SecAgg parameters. A federated
 * evaluation's task says `kind: 'evaluate'` and which split (its `baseModel` is the classifier measured).
 */
export function buildTask(active: ActiveRound, denoiser: ModelRef | null, chunkSize: number): Task {
  const s = active.settings;
  return {
    experiment: active.experimentId,
    phase: s.phase,
    round: active.round,
    baseModel: active.base?.ref ?? null,
    initSeed: s.initSeed,
    denoiser,
    hyper: {
      localEpochs: s.localEpochs,
      batchSize: s.batchSize,
      // Settings stored before the schedule existed have none: constant.
      learningRate: scheduledLearningRate(s.learningRate, s.learningRateSchedule ?? 'constant', active.round, s.rounds),
      ...(s.classBalanced ? { classBalanced: true } : {}),
      ...(s.flipAugment ? { flipAugment: true } : {}),
      dp: s.dp,
      secureAgg: s.secureAgg,
      ...active.strategy.configureRound(active.round),
    },
    deadline: new Date(active.deadline).toISOString(),
    normBound: s.normBound,
    chunkSize,
    ...(active.base === null && s.modelConfig ? { modelConfig: s.modelConfig } : {}),
    ...(active.secagg ? { secAgg: active.secagg.params } : {}),
    ...(s.evaluation ? { kind: 'evaluate' as const, evaluation: { split: s.evaluation.split, bins: EVALUATION_BINS } } : {}),
  };
}
