import { Inject, Injectable, Logger } from '@nestjs/common';
import { decodeModelBlob, describeIssue, encodeModelBlob, evaluationResultSchema, summarizeEvaluation, type CommitResult, type ErrorCode, type ModelManifest, type RoundEvent, type Task } from '@fedct/protocol';
import { createStrategy, WeightedSum } from '@fedct/strategies';
import { AuditService } from '../core/audit.service';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../core/coordinator.config';
import { CoordinatorError } from '../core/errors';
import { MetricsService } from '../core/metrics.service';
import { SessionRegistry } from '../core/sessions.service';
import { ModelsService } from '../models/models.service';
import { SitesService } from '../sites/sites.service';
import type { ActiveRound, RoundAdmission } from './active-round';
import { type ExperimentRecord, ExperimentsRepository, type RoundRecord, type SiteRoundStatus } from './experiments.repository';
import { aggregateRound } from './round-aggregation';
import { RoundEvents } from './round-events';
import { RoundSpool } from './round-spool';
import { buildTask } from './round-tasks';
import { advanceSecAggStages } from './secagg.driver';
import { evaluationRefusal, updateRefusal } from './update-rules';
import type { VerifyOutcome } from './verify.job';

/** The upload an update came in (its site's session, and the round it was begun for). */
export interface UploadContext {
  experimentId: string;
  round: number;
  /** The spool file holding the sealed envelope (kept by a streaming round, else recycled by the caller). */
  file: string;
}

/**
 * The round state machine: open → training → aggregating → published | failed, every transition in
 * an SQLite transaction. Updates enter through {@link submit}, which applies the round's rules in
 * order and folds an accepted update into the strategy's running sum at once (streaming strategies;
 * robust ones spool the weights and read them back at the close). A published model is written
 * (fsynced) before the transaction that records it. Rounds are started by the scheduler
 * (round-scheduler.ts) and rebuilt after a restart by round-recovery.ts; the files are round-spool.ts's.
 */
@Injectable()
export class RoundsService {
  private readonly logger = new Logger(RoundsService.name);
  private readonly active = new Map<string, ActiveRound>();

  constructor(
    @Inject(COORDINATOR_CONFIG) private readonly config: CoordinatorConfig,
    @Inject(ExperimentsRepository) private readonly repo: ExperimentsRepository,
    @Inject(ModelsService) private readonly models: ModelsService,
    @Inject(SitesService) private readonly sites: SitesService,
    @Inject(SessionRegistry) private readonly sessions: SessionRegistry,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(RoundSpool) private readonly spool: RoundSpool,
    @Inject(RoundEvents) private readonly events: RoundEvents,
  ) {}

  /** The rounds in progress. */
  activeRounds(): ActiveRound[] {
    return [...this.active.values()];
  }

  isActive(experimentId: string): boolean {
    return this.active.has(experimentId);
  }

  /** What the upload transport may know of an experiment's open round (null: none open). */
  admission(experimentId: string): RoundAdmission | null {
    const a = this.active.get(experimentId);
    if (!a) return null;
    return {
      experimentId: a.experimentId,
      round: a.round,
      accepting: !a.closing,
      status: (siteId) => this.repo.result(a.experimentId, a.round, siteId)?.status ?? null,
      secure: a.secagg !== null,
      tensors: a.manifest?.tensors ?? null,
      base: a.base?.weights ?? null,
      normBound: a.settings.normBound,
    };
  }

  /** Builds the in-memory round from its record (a new round, or one resumed after a restart). */
  materialise(exp: ExperimentRecord, record: RoundRecord): ActiveRound {
    let base: ActiveRound['base'] = null;
    if (record.baseModel) {
      const ref = this.models.ref(record.baseModel);
      const blob = decodeModelBlob(this.models.store.read(ref.sha256));
      // Shared memory, so verification workers read the base without a copy per update.
      const weights = new Float32Array(new SharedArrayBuffer(blob.weights.byteLength));
      weights.set(blob.weights);
      base = { ref, weights, manifest: blob.manifest };
    }
    const dir = this.spool.open(exp.id, record.round);
    return {
      experimentId: exp.id, round: record.round, settings: exp.settings, strategy: createStrategy(exp.settings),
      base, manifest: base?.manifest ?? this.spool.readManifest(dir), sum: null, folded: [], checkpointed: 0,
      deadline: Date.parse(record.deadline), dir, participants: record.participants, closing: false, secagg: null,
    };
  }

  /** Takes a round into the machine: a new one is announced to its participants and starts training. */
  start(active: ActiveRound, resumed: boolean): void {
    this.active.set(active.experimentId, active);
    if (resumed) return;
    const task = this.task(active);
    for (const site of active.participants) this.sessions.emitToSite(site, 'task', task);
    this.repo.transaction(() => this.repo.updateRound(active.experimentId, active.round, { state: 'training' }));
    this.logger.log(`experiment ${active.experimentId} round ${active.round}: training with ${active.participants.length} sites`);
    this.emitRound(active, 'training');
  }

  /** The scheduler's clock: secure-aggregation stages that are due, rounds past their deadline. */
  poll(experimentId: string, now: number): void {
    const active = this.active.get(experimentId);
    if (!active || active.closing) return;
    if (active.secagg) {
      if (active.secagg.ready(now)) this.advanceSecAgg(active);
    } else if (now >= active.deadline) {
      this.close(active, 'deadline passed');
    }
  }

  /** The task a site should be working on now (after a reconnect), or null. */
  currentTask(siteId: string): Task | null {
    for (const active of this.active.values()) {
      if (active.closing || !active.participants.includes(siteId)) continue;
      if (this.repo.result(active.experimentId, active.round, siteId)?.status === 'invited') return this.task(active);
    }
    return null;
  }

  task(active: ActiveRound): Task {
    const s = active.settings;
    return buildTask(active, s.denoiserModel ? this.models.ref(s.denoiserModel) : null, this.config.chunkSize);
  }

  /** Stops an experiment's round (tasks cancelled, round failed) and marks the experiment aborted. */
  abort(experimentId: string, reason: string): void {
    const active = this.active.get(experimentId);
    if (active) this.failRound(active, `aborted: ${reason}`, true);
    this.repo.updateExperiment(experimentId, { status: 'aborted', reason });
    this.sessions.adminEmit('experiment', { experiment: experimentId, status: 'aborted' });
  }

  /**
   * The one way an update enters a round, with the verification worker's outcome. The round's rules,
   * in order: the envelope opened with the site's key; its nonce never seen (replay); it is for this
   * open round; trained from its base; a positive sample count; the site's first result; then the
   * payload (masked vector under secure aggregation; otherwise tensors as the round's, finite, within
   * the norm bound). Accepted: folded at once and recorded. Refused: audited, counted and thrown as a
   * CoordinatorError with the rejection code; a signed but bad payload also marks the site rejected.
   * Runs on the main thread without awaiting, so concurrent commits cannot race.
   */
  submit(siteId: string, upload: UploadContext, outcome: VerifyOutcome): CommitResult {
    if (outcome.kind === 'rejected') return this.refuse(siteId, upload, outcome.code, outcome.message);
    const header = outcome.header;
    if (!this.repo.rememberNonce(header.experiment, header.round, header.nonce)) return this.refuse(siteId, upload, 'rejected_replay', 'envelope nonce was seen before (replay)');
    const active = this.active.get(upload.experimentId) ?? null;
    const refusal = updateRefusal(upload, active, outcome, this.repo.result(upload.experimentId, upload.round, siteId)?.status ?? null);
    if (!refusal && active?.secagg) {
      const refused = active.secagg.addMasked(siteId, outcome.masked!);
      if (refused) return this.refuse(siteId, upload, 'rejected_shape', refused);
    }
    if (refusal) {
      if (refusal.markRejected && active) this.markSite(active, siteId, 'rejected', refusal.message);
      return this.refuse(siteId, upload, refusal.code, refusal.message);
    }
    const round = active!;
    if (!round.secagg) this.fold(round, siteId, outcome.manifest!, outcome.weights!, header.sampleCount, upload.file);
    this.repo.transaction(() => this.repo.setResult(round.experimentId, round.round, siteId, 'accepted', { sampleCount: header.sampleCount, metrics: header.metrics }));
    // After the site's result is recorded: a checkpoint never names a site the database has not accepted.
    if (round.strategy.streaming && !round.secagg && round.folded.length - round.checkpointed >= this.config.roundCheckpointEvery) this.checkpoint(round);
    this.announceAccepted(round, siteId, header.sampleCount, round.secagg !== null);
    if (round.secagg) {
      if (round.secagg.ready(Date.now())) setImmediate(() => this.advanceSecAgg(round));
    } else {
      this.closeIfComplete(round);
    }
    return { accepted: true, experiment: upload.experimentId, round: upload.round };
  }

  /**
   * A site's federated-evaluation counts (`evaluation.result`). Refused (audited, never stored): a
   * malformed message, counts that do not add up, a result for another model or split than the task
   * named, a replayed nonce, a second result, a round that is not open. Stored with the site marked
   * accepted; the round closes when every participant has answered.
   */
  submitEvaluation(siteId: string, payload: unknown): { recorded: true } {
    const refuse = (experimentId: string, round: number, code: ErrorCode, message: string): never => {
      this.metrics.inc('fedct_evaluation_results_rejected_total', 1, { code });
      this.audit.record(`site:${siteId}`, 'evaluation.rejected', { experiment: experimentId, round, code, message });
      throw new CoordinatorError(message, code);
    };
    const parsed = evaluationResultSchema.safeParse(payload);
    const claimed = (payload ?? {}) as { experiment?: unknown; round?: unknown };
    if (!parsed.success) return refuse(String(claimed.experiment ?? '').slice(0, 100), Number(claimed.round) || 0, 'bad_message', `evaluation.result: ${describeIssue(parsed.error)}`);
    const m = parsed.data;
    const active = this.active.get(m.experiment) ?? null;
    if (active?.settings.evaluation && !this.repo.rememberNonce(m.experiment, m.round, m.nonce)) return refuse(m.experiment, m.round, 'rejected_replay', 'evaluation result nonce was seen before (replay)');
    const refusal = evaluationRefusal(active, m, this.repo.result(m.experiment, m.round, siteId)?.status ?? null);
    if (refusal || !active) return refuse(m.experiment, m.round, refusal?.code ?? 'round_closed', refusal?.message ?? 'no evaluation is open');
    const accuracy = summarizeEvaluation(m.counts).accuracy.value;
    this.repo.transaction(() => {
      this.repo.insertEvaluationResult(m.experiment, m.round, siteId, m.split, m.counts);
      this.repo.setResult(m.experiment, m.round, siteId, 'accepted', { sampleCount: m.counts.n, metrics: accuracy === null ? {} : { accuracy } });
    });
    this.audit.record(`site:${siteId}`, 'evaluation.result', { experiment: m.experiment, round: m.round, n: m.counts.n, split: m.split });
    this.emitRound(active, 'training');
    this.closeIfComplete(active);
    return { recorded: true };
  }

  /** Audits, counts and throws a refusal of an update. */
  refuse(siteId: string, upload: Pick<UploadContext, 'experimentId' | 'round'>, code: ErrorCode, message: string): never {
    this.metrics.inc('fedct_updates_rejected_total', 1, { code });
    this.audit.record(`site:${siteId}`, 'update.rejected', { experiment: upload.experimentId, round: upload.round, code, message });
    this.sessions.adminEmit('site', { siteId, siteName: this.sites.find(siteId)?.name ?? siteId, event: 'update_rejected', detail: `${code}: ${message}` });
    throw new CoordinatorError(message, code);
  }

  /** Spools an accepted update and (streaming strategies) folds it into the running sum. */
  private fold(active: ActiveRound, siteId: string, manifest: ModelManifest, weights: Float32Array, sampleCount: number, uploadFile: string): void {
    if (!active.manifest) {
      active.manifest = manifest;
      this.spool.writeManifest(active.dir, manifest);
    }
    if (!active.strategy.streaming) {
      this.spool.writeWeights(active.dir, siteId, weights);
      return;
    }
    // Keep the sealed envelope itself (a rename, no copy): a restarted coordinator opens it again.
    this.spool.keepSealed(active.dir, siteId, uploadFile);
    active.sum ??= new WeightedSum(weights.length);
    active.sum.fold(weights, sampleCount);
    active.folded.push(siteId);
  }

  /** Writes the running sum (round-spool.ts) and lets go of the envelopes now in it. */
  private checkpoint(active: ActiveRound): void {
    this.spool.writeCheckpoint(active.dir, active.sum!, active.folded);
    for (const site of active.folded.slice(active.checkpointed)) this.spool.recycleSealed(active.dir, site);
    active.checkpointed = active.folded.length;
  }

  private announceAccepted(active: ActiveRound, siteId: string, sampleCount: number, secure: boolean): void {
    this.metrics.inc('fedct_updates_accepted_total');
    this.audit.record(`site:${siteId}`, 'update.accepted', { experiment: active.experimentId, round: active.round, sampleCount, ...(secure ? { secureAggregation: true } : {}) });
    if (!secure) this.sessions.adminEmit('site', { siteId, siteName: this.sites.find(siteId)?.name ?? siteId, event: 'update_accepted', detail: `${active.experimentId}/${active.round}` });
    this.emitRound(active, 'training');
  }

  /** A SecAgg stage message from a site (advertise, shares, consistency, unmask). */
  secAggMessage(siteId: string, message: { experiment: string; round: number; stage: string; site: string }): void {
    const active = this.active.get(message.experiment);
    if (!active?.secagg || active.round !== message.round || active.closing) throw new CoordinatorError(`no secure aggregation round ${message.round} of ${message.experiment}`, 'round_closed');
    const refused = active.secagg.receive(siteId, message);
    if (refused) throw new CoordinatorError(refused, 'bad_message');
    if (active.secagg.ready(Date.now())) this.advanceSecAgg(active);
  }

  private advanceSecAgg(active: ActiveRound): void {
    const emit = this.sessions.emitToSite.bind(this.sessions) as (site: string, event: string, payload: unknown) => boolean;
    const outcome = advanceSecAggStages(active, (m) => emit(m.site, m.event, m.payload), (line) => this.logger.log(line));
    if (outcome?.kind === 'failed') this.failRound(active, outcome.reason, false);
    if (outcome?.kind === 'done') this.close(active, 'secure aggregation complete');
  }

  /** Marks an invited site as failed, rejected or dropped for this round (it will not be waited for). */
  markSite(active: ActiveRound, siteId: string, status: Exclude<SiteRoundStatus, 'invited' | 'accepted'>, reason: string): void {
    if (this.repo.result(active.experimentId, active.round, siteId)?.status !== 'invited') return;
    this.repo.transaction(() => this.repo.setResult(active.experimentId, active.round, siteId, status, { reason }));
    this.closeIfComplete(active);
  }

  /** The experiment's open round, for the gateway's `task.fail` (null: none open). */
  round(experimentId: string): ActiveRound | null {
    return this.active.get(experimentId) ?? null;
  }

  private closeIfComplete(active: ActiveRound): void {
    // A secure-aggregation round ends when its stage driver finishes, not when uploads are in.
    if (active.secagg) return;
    if ((this.repo.statusCounts(active.experimentId, active.round).invited ?? 0) === 0) this.close(active, 'all participants reported');
  }

  /** Ends the training phase: drops stragglers, aggregates if the quorum is met, else fails the round. */
  close(active: ActiveRound, why: string): void {
    if (active.closing) return;
    active.closing = true;
    const { experimentId, round } = active;
    const dropped: string[] = [];
    this.repo.transaction(() => {
      this.repo.updateRound(experimentId, round, { state: 'aggregating' });
      for (const r of this.repo.results(experimentId, round)) {
        if (r.status !== 'invited') continue;
        this.repo.setResult(experimentId, round, r.siteId, 'dropped', { reason: why });
        dropped.push(r.siteId);
      }
    });
    for (const site of dropped) this.sessions.emitToSite(site, 'task.cancel', { experiment: experimentId, round, reason: why });
    this.emitRound(active, 'aggregating');
    const results = this.repo.results(experimentId, round);
    const accepted = results.filter((r) => r.status === 'accepted');
    if (accepted.length < active.settings.minSites) {
      this.failRound(active, `quorum not met: ${accepted.length} of ${active.settings.minSites} sites (${why})`, false);
      return;
    }
    if (active.settings.evaluation) {
      // Nothing to aggregate: the stored counts are the result; the measured model stays as it is.
      this.repo.durable(() => this.publishRecords(active, active.base!.ref.version, { sites: accepted.length, samples: accepted.reduce((n, r) => n + (r.sampleCount ?? 0), 0) }, null));
      this.finishPublish(active, active.base!.ref.version, null);
      return;
    }
    try {
      this.aggregateAndPublish(active, results);
    } catch (error) {
      this.logger.error(`aggregation of ${experimentId}/${round} failed: ${(error as Error).stack ?? String(error)}`);
      this.failRound(active, `aggregation failed: ${(error as Error).message}`, false);
    }
  }

  private aggregateAndPublish(active: ActiveRound, results: ReturnType<ExperimentsRepository['results']>): void {
    const { experimentId, round } = active;
    const state = this.spool.loadStrategyState(experimentId, this.repo.findExperiment(experimentId)!.currentModel);
    const { outcome, metrics } = aggregateRound(active, results, state, this.spool);
    if (outcome.kind === 'keep') {
      if (!active.base) return this.failRound(active, `strategy kept no model: ${outcome.reason}`, false);
      const reason = `kept the previous model: ${outcome.reason}`;
      this.repo.durable(() => this.publishRecords(active, active.base!.ref.version, metrics, reason));
      return this.finishPublish(active, active.base.ref.version, reason);
    }
    const bytes = encodeModelBlob({ manifest: active.manifest!, weights: outcome.weights });
    let version = '';
    this.repo.durable(() => {
      const model = this.models.register({ bytes, source: 'aggregate', phase: active.settings.phase, parent: active.base?.ref.version ?? null, experiment: experimentId, round, metrics });
      version = model.version;
      if (state.size > 0) this.spool.saveStrategyState(experimentId, version, state);
      this.publishRecords(active, version, metrics, null);
    });
    this.finishPublish(active, version, null);
  }

  private publishRecords(active: ActiveRound, version: string, roundMetrics: Record<string, number>, reason: string | null): void {
    const exp = this.repo.findExperiment(active.experimentId)!;
    this.repo.updateRound(active.experimentId, active.round, { state: 'published', modelVersion: version, closedAt: new Date().toISOString(), reason, metrics: roundMetrics });
    this.repo.updateExperiment(active.experimentId, { currentModel: version, publishedRounds: exp.publishedRounds + 1, consecutiveFailures: 0 });
  }

  private finishPublish(active: ActiveRound, version: string, reason: string | null): void {
    this.metrics.inc('fedct_rounds_total', 1, { state: 'published' });
    this.audit.record('system', 'round.published', { experiment: active.experimentId, round: active.round, model: version, reason });
    this.logger.log(`experiment ${active.experimentId} round ${active.round}: published ${version}`);
    this.end(active, 'published');
    this.emitRound(active, 'published');
    if (active.settings.evaluation) return;
    try {
      this.sessions.broadcast('model.published', this.models.published(version, active.settings.phase, active.experimentId));
    } catch (error) {
      this.logger.error(`announcing ${version}: ${(error as Error).message}`);
    }
  }

  /** Fails the round (its invited sites dropped); too many failures in a row fail the experiment. */
  failRound(active: ActiveRound, reason: string, aborted: boolean): void {
    const { experimentId, round } = active;
    active.closing = true;
    const invited = this.repo.results(experimentId, round).filter((r) => r.status === 'invited').map((r) => r.siteId);
    let stop = false;
    this.repo.transaction(() => {
      for (const site of invited) this.repo.setResult(experimentId, round, site, 'dropped', { reason });
      this.repo.updateRound(experimentId, round, { state: 'failed', closedAt: new Date().toISOString(), reason });
      if (aborted) return;
      const exp = this.repo.findExperiment(experimentId)!;
      const failures = exp.consecutiveFailures + 1;
      stop = failures > exp.settings.maxRoundRetries;
      this.repo.updateExperiment(experimentId, stop ? { consecutiveFailures: failures, status: 'failed', reason: `round ${round} failed ${failures} times in a row: ${reason}` } : { consecutiveFailures: failures });
    });
    for (const site of invited) this.sessions.emitToSite(site, 'task.cancel', { experiment: experimentId, round, reason });
    this.metrics.inc('fedct_rounds_total', 1, { state: 'failed' });
    this.audit.record('system', 'round.failed', { experiment: experimentId, round, reason, experimentStopped: stop });
    this.logger.warn(`experiment ${experimentId} round ${round} failed: ${reason}${stop ? ' (experiment stopped)' : ''}`);
    this.end(active, 'failed', aborted);
    this.emitRound(active, 'failed', reason);
    if (stop) this.sessions.adminEmit('experiment', { experiment: experimentId, status: 'failed' });
  }

  /** Forgets the round, removes its folder and tells the listeners (uploads, the scheduler). */
  private end(active: ActiveRound, state: 'published' | 'failed', aborted = false): void {
    this.active.delete(active.experimentId);
    this.spool.removeRound(active.dir, active.folded.slice(active.checkpointed));
    this.events.ended({ experimentId: active.experimentId, round: active.round, state, ...(aborted ? { aborted } : {}) });
  }

  private emitRound(active: ActiveRound, state: RoundEvent['state'], reason: string | null = null): void {
    const accepted = this.repo.statusCounts(active.experimentId, active.round).accepted ?? 0;
    const round = this.repo.findRound(active.experimentId, active.round);
    this.sessions.adminEmit('round', {
      experiment: active.experimentId, round: active.round, attempt: 1, state, participants: active.participants, accepted,
      modelVersion: round?.modelVersion ?? null, reason: reason ?? round?.reason ?? null,
    });
  }
}
