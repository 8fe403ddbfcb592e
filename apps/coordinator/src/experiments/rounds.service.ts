import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { decodeModelBlob, encodeModelBlob, scheduledLearningRate, type ExperimentSettings, type ModelManifest, type ModelRef, type RoundEvent, type Task, type TensorSpec } from '@fedct/protocol';
import { fromBase64, open as openEnvelope, type Identity } from '@fedct/crypto';
import { AuditService } from '../core/audit.service';
import { COORDINATOR_IDENTITY } from '../core/identity';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../core/coordinator.config';
import { MetricsService } from '../core/metrics.service';
import { SessionRegistry } from '../core/sessions.service';
import { ModelsService } from '../models/models.service';
import { SitesService } from '../sites/sites.service';
import { createStrategy, type Strategy, type StrategyState, WeightedSum } from '@fedct/strategies';
import { CoordinatorError } from '../core/errors';
import { SecAggDriver, secAggParams } from './secagg.driver';
import { SpoolPool } from './spool-pool';
import { type ExperimentRecord, ExperimentsRepository, type RoundRecord, type SiteRoundStatus } from './experiments.repository';

/** A round in progress, in memory; everything here can be rebuilt from SQLite and the spool files. */
export interface ActiveRound {
  experimentId: string;
  round: number;
  settings: ExperimentSettings;
  strategy: Strategy;
  base: { ref: ModelRef; weights: Float32Array; manifest: ModelManifest } | null;
  /** Tensors every update must have: the base model's, or the first accepted update's in round 1 without a base. */
  manifest: ModelManifest | null;
  sum: WeightedSum | null;
  /** Sites folded into `sum`, in order; the first `checkpointed` of them are in the on-disk checkpoint. */
  folded: string[];
  checkpointed: number;
  deadline: number;
  dir: string;
  participants: string[];
  /** Bytes of sealed updates accepted for upload in this round (limit `maxRoundBytes`). */
  uploadBytes: number;
  closing: boolean;
  /** Secure-aggregation rounds: the stage driver (the coordinator only ever sees the masked sum). */
  secagg: SecAggDriver | null;
}

/**
 * The round state machine: open → training → aggregating → published | failed, every transition in
 * an SQLite transaction. Accepted updates are folded into the strategy's running sum as they arrive
 * and spooled to `rounds/<experiment>/<round>/<site>.sealed` (the envelope as received, moved not
 * copied) so a restarted coordinator can open them again and rebuild the sum; every
 * `roundCheckpointEvery` updates the sum itself is checkpointed and those envelopes deleted; robust strategies spool
 * decoded `<site>.f32` files instead and read them back block by block. A published model is written (fsynced) before the
 * transaction that records it.
 */
@Injectable()
export class RoundsService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(RoundsService.name);
  private readonly active = new Map<string, ActiveRound>();
  private readonly waitingSince = new Map<string, number>();
  private readonly endedListeners = new Set<(experimentId: string, round: number) => void>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(COORDINATOR_CONFIG) private readonly config: CoordinatorConfig,
    @Inject(ExperimentsRepository) private readonly repo: ExperimentsRepository,
    @Inject(ModelsService) private readonly models: ModelsService,
    @Inject(SitesService) private readonly sites: SitesService,
    @Inject(SessionRegistry) private readonly sessions: SessionRegistry,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(COORDINATOR_IDENTITY) private readonly identity: Identity,
    @Inject(SpoolPool) private readonly spool: SpoolPool,
  ) {}

  onApplicationBootstrap(): void {
    this.recover();
    this.timer = setInterval(() => this.tick(), this.config.schedulerIntervalMs);
    this.sessions.onPresence((_site, online) => {
      if (online) setImmediate(() => this.tick());
    });
    this.sessions.onRevoked((siteId, reason) => {
      for (const active of [...this.active.values()]) {
        if (!active.closing && !active.secagg && active.participants.includes(siteId)) this.markSite(active, siteId, 'dropped', `site revoked: ${reason}`);
      }
    });
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Calls `listener` when a round is published or failed (e.g. to drop its unfinished uploads). */
  onRoundEnded(listener: (experimentId: string, round: number) => void): void {
    this.endedListeners.add(listener);
  }

  /** The round in progress for an experiment, if any. */
  activeRound(experimentId: string): ActiveRound | null {
    return this.active.get(experimentId) ?? null;
  }

  /** One scheduler step: close rounds past their deadline, start rounds where sites are available. */
  tick(): void {
    for (const exp of this.repo.listExperiments(['running', 'paused'])) {
      try {
        const active = this.active.get(exp.id);
        if (active?.secagg) {
          if (!active.closing && active.secagg.ready(Date.now())) this.advanceSecAgg(active);
        } else if (active) {
          if (!active.closing && Date.now() >= active.deadline) this.close(active, 'deadline passed');
        } else if (exp.status === 'running') {
          this.maybeStart(exp);
        }
      } catch (error) {
        this.logger.error(`experiment ${exp.id}: ${(error as Error).stack ?? String(error)}`);
      }
    }
  }

  /** The task a site should be working on now (after a reconnect), or null. */
  currentTask(siteId: string): Task | null {
    for (const active of this.active.values()) {
      if (active.closing || !active.participants.includes(siteId)) continue;
      if (this.repo.result(active.experimentId, active.round, siteId)?.status === 'invited') return this.buildTask(active);
    }
    return null;
  }

  /** Stops an experiment's round (tasks cancelled, round failed) and marks the experiment aborted. */
  abort(experimentId: string, reason: string): void {
    const active = this.active.get(experimentId);
    if (active) this.failRound(active, `aborted: ${reason}`, true);
    this.repo.updateExperiment(experimentId, { status: 'aborted', reason });
    this.sessions.adminEmit('experiment', { experiment: experimentId, status: 'aborted' });
  }

  private maybeStart(exp: ExperimentRecord): void {
    const s = exp.settings;
    if (exp.publishedRounds >= s.rounds) {
      this.repo.updateExperiment(exp.id, { status: 'completed' });
      this.audit.record('system', 'experiment.completed', { experiment: exp.id, model: exp.currentModel });
      this.sessions.adminEmit('experiment', { experiment: exp.id, status: 'completed' });
      this.logger.log(`experiment ${exp.id} completed with ${exp.currentModel ?? 'no model'}`);
      return;
    }
    const online = this.sessions.online().filter((id) => {
      const site = this.sites.find(id);
      return site !== null && site.revokedAt === null;
    });
    if (online.length < s.minSites) {
      const since = this.waitingSince.get(exp.id) ?? Date.now();
      this.waitingSince.set(exp.id, since);
      if (Date.now() - since > s.waitForSitesSeconds * 1000) {
        const reason = `only ${online.length} of ${s.minSites} required sites online for ${s.waitForSitesSeconds} s`;
        this.repo.updateExperiment(exp.id, { status: 'failed', reason });
        this.audit.record('system', 'experiment.failed', { experiment: exp.id, reason });
        this.sessions.adminEmit('experiment', { experiment: exp.id, status: 'failed' });
      }
      return;
    }
    this.waitingSince.delete(exp.id);
    const participants = createStrategy(s).selectParticipants(online, { minSites: s.minSites, fractionFit: s.fractionFit, randomInt });
    const round = (this.repo.lastRound(exp.id)?.round ?? 0) + 1;
    const now = new Date();
    const record: RoundRecord = {
      experimentId: exp.id,
      round,
      state: 'open',
      baseModel: exp.currentModel,
      participants,
      startedAt: now.toISOString(),
      deadline: new Date(now.getTime() + s.roundDeadlineSeconds * 1000).toISOString(),
      closedAt: null,
      modelVersion: null,
      reason: null,
      metrics: {},
    };
    this.repo.transaction(() => this.repo.insertRound(record));
    this.audit.record('system', 'round.opened', { experiment: exp.id, round, participants, baseModel: exp.currentModel });
    const active = this.materialise(exp, record);
    if (s.secureAgg && active.base) {
      const keys: Record<string, string> = {};
      for (const id of participants) keys[id] = this.sites.get(id).signingPublicKey;
      const params = secAggParams(exp.id, round, keys, active.base.weights.length, s.secAggClipRange, s.secAggMaxTotalWeight);
      active.secagg = new SecAggDriver(params, s.secAggStageSeconds * 1000, active.deadline, s.minSites, Date.now());
    }
    this.active.set(exp.id, active);
    const task = this.buildTask(active);
    for (const site of participants) this.sessions.emitToSite(site, 'task', task);
    this.repo.transaction(() => this.repo.updateRound(exp.id, round, { state: 'training' }));
    this.logger.log(`experiment ${exp.id} round ${round}: training with ${participants.length} sites`);
    this.emitRound(active, 'training');
  }

  /** Builds the in-memory round from its record (new round or after a restart). */
  private materialise(exp: ExperimentRecord, record: RoundRecord): ActiveRound {
    let base: ActiveRound['base'] = null;
    if (record.baseModel) {
      const ref = this.models.ref(record.baseModel);
      const blob = decodeModelBlob(this.models.store.read(ref.sha256));
      // Shared memory, so verification workers read the base without a copy per update.
      const weights = new Float32Array(new SharedArrayBuffer(blob.weights.byteLength));
      weights.set(blob.weights);
      base = { ref, weights, manifest: blob.manifest };
    }
    const dir = join(this.config.dataDir, 'rounds', exp.id, String(record.round));
    mkdirSync(dir, { recursive: true });
    const manifestFile = join(dir, 'manifest.json');
    const manifest = base?.manifest ?? (existsSync(manifestFile) ? (JSON.parse(readFileSync(manifestFile, 'utf8')) as ModelManifest) : null);
    const strategy = createStrategy(exp.settings);
    return {
      experimentId: exp.id,
      round: record.round,
      settings: exp.settings,
      strategy,
      base,
      manifest,
      sum: null,
      folded: [],
      checkpointed: 0,
      deadline: Date.parse(record.deadline),
      dir,
      participants: record.participants,
      uploadBytes: 0,
      closing: false,
      secagg: null,
    };
  }

  buildTask(active: ActiveRound): Task {
    const s = active.settings;
    return {
      experiment: active.experimentId,
      phase: s.phase,
      round: active.round,
      baseModel: active.base?.ref ?? null,
      initSeed: s.initSeed,
      denoiser: s.denoiserModel ? this.models.ref(s.denoiserModel) : null,
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
      chunkSize: this.config.chunkSize,
      ...(active.base === null && s.modelConfig ? { modelConfig: s.modelConfig } : {}),
      ...(active.secagg ? { secAgg: active.secagg.params } : {}),
    };
  }

  /** A SecAgg stage message from a site (advertise, shares, consistency, unmask). */
  secAggMessage(siteId: string, message: { experiment: string; round: number; stage: string; site: string }): void {
    const active = this.active.get(message.experiment);
    if (!active?.secagg || active.round !== message.round || active.closing) throw new CoordinatorError(`no secure aggregation round ${message.round} of ${message.experiment}`, 'round_closed');
    const refused = active.secagg.receive(siteId, message);
    if (refused) throw new CoordinatorError(refused, 'bad_message');
    if (active.secagg.ready(Date.now())) this.advanceSecAgg(active);
  }

  /** A site's masked vector (from an authenticated sealed upload); returns why it was refused, or null. */
  acceptMasked(active: ActiveRound, siteId: string, vector: Uint8Array, sampleCount: number, siteMetrics: Record<string, number>): string | null {
    const refused = active.secagg!.addMasked(siteId, vector);
    if (refused) return refused;
    this.repo.transaction(() => this.repo.setResult(active.experimentId, active.round, siteId, 'accepted', { sampleCount, metrics: siteMetrics }));
    this.metrics.inc('fedct_updates_accepted_total');
    this.audit.record(`site:${siteId}`, 'update.accepted', { experiment: active.experimentId, round: active.round, sampleCount, secureAggregation: true });
    this.emitRound(active, 'training');
    if (active.secagg!.ready(Date.now())) setImmediate(() => this.advanceSecAgg(active));
    return null;
  }

  private advanceSecAgg(active: ActiveRound): void {
    const driver = active.secagg!;
    while (!active.closing && driver.ready(Date.now())) {
      const before = driver.phase;
      for (const m of driver.advance(Date.now())) {
        (this.sessions.emitToSite as (site: string, event: string, payload: unknown) => boolean)(m.site, m.event, m.payload);
      }
      this.logger.log(`experiment ${active.experimentId} round ${active.round}: secure aggregation ${before} → ${driver.phase}`);
      if (driver.phase === 'failed') {
        this.failRound(active, driver.failure ?? 'secure aggregation failed', false);
        return;
      }
      if (driver.phase === 'done' && driver.result) {
        const base = active.base!.weights;
        const weights = new Float32Array(base.length);
        for (let i = 0; i < base.length; i++) weights[i] = base[i]! + driver.result.meanDelta[i]!;
        active.sum = new WeightedSum(base.length);
        active.sum.fold(weights, 1);
        this.close(active, 'secure aggregation complete');
        return;
      }
    }
  }

  /** Tensors an update must have in this round (null: round 1 without a base and nothing accepted yet). */
  expectedTensors(active: ActiveRound): TensorSpec[] | null {
    return active.manifest?.tensors ?? null;
  }

  /**
   * Records an accepted update: spools the weights, folds them into the running sum, marks the site
   * accepted (one transaction), and closes the round when every participant has reported.
   */
  accept(active: ActiveRound, siteId: string, manifest: ModelManifest, weights: Float32Array, sampleCount: number, siteMetrics: Record<string, number>, sealedFile: string): void {
    if (!active.manifest) {
      active.manifest = manifest;
      writeAtomically(join(active.dir, 'manifest.json'), Buffer.from(JSON.stringify(manifest)));
    }
    if (active.strategy.streaming) {
      // Keep the sealed envelope itself (a rename, no copy): a restarted coordinator opens it again.
      renameSync(sealedFile, join(active.dir, `${siteId}.sealed`));
    } else {
      writeAtomically(join(active.dir, `${siteId}.f32`), Buffer.from(weights.buffer, weights.byteOffset, weights.byteLength));
    }
    if (active.strategy.streaming) {
      active.sum ??= new WeightedSum(weights.length);
      active.sum.fold(weights, sampleCount);
      active.folded.push(siteId);
    }
    this.repo.transaction(() => this.repo.setResult(active.experimentId, active.round, siteId, 'accepted', { sampleCount, metrics: siteMetrics }));
    if (active.strategy.streaming && active.folded.length - active.checkpointed >= this.config.roundCheckpointEvery) this.checkpoint(active);
    this.metrics.inc('fedct_updates_accepted_total');
    this.audit.record(`site:${siteId}`, 'update.accepted', { experiment: active.experimentId, round: active.round, sampleCount });
    this.sessions.adminEmit('site', { siteId, siteName: this.sites.find(siteId)?.name ?? siteId, event: 'update_accepted', detail: `${active.experimentId}/${active.round}` });
    this.emitRound(active, 'training');
    this.closeIfComplete(active);
  }

  /** Marks an invited site as failed or rejected for this round (it will not be waited for). */
  markSite(active: ActiveRound, siteId: string, status: Exclude<SiteRoundStatus, 'invited' | 'accepted'>, reason: string): void {
    if (this.repo.result(active.experimentId, active.round, siteId)?.status !== 'invited') return;
    this.repo.transaction(() => this.repo.setResult(active.experimentId, active.round, siteId, status, { reason }));
    this.closeIfComplete(active);
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
        if (r.status === 'invited') {
          this.repo.setResult(experimentId, round, r.siteId, 'dropped', { reason: why });
          dropped.push(r.siteId);
        }
      }
    });
    for (const site of dropped) this.sessions.emitToSite(site, 'task.cancel', { experiment: experimentId, round, reason: why });
    this.emitRound(active, 'aggregating');
    const results = this.repo.results(experimentId, round);
    const accepted = results.filter((r) => r.status === 'accepted');
    const min = active.settings.minSites;
    if (accepted.length < min) {
      this.failRound(active, `quorum not met: ${accepted.length} of ${min} sites (${why})`, false);
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
    const accepted = results.filter((r) => r.status === 'accepted');
    const manifest = active.manifest;
    if (!manifest) throw new Error('no model manifest for the round');
    const length = active.sum?.length ?? active.base?.weights.length ?? sizeOf(manifest.tensors);
    const exp = this.repo.findExperiment(experimentId)!;
    const state = this.loadStrategyState(experimentId, exp.currentModel);
    const readBlock = active.strategy.streaming ? null : this.blockReader(active, accepted.map((r) => r.siteId));
    let outcome;
    try {
      outcome = active.strategy.aggregate(
        {
          base: active.base?.weights ?? null,
          accepted: accepted.map((r) => ({ siteId: r.siteId, sampleCount: r.sampleCount ?? 0 })),
          failures: results.filter((r) => r.status !== 'accepted').map((r) => ({ siteId: r.siteId, reason: `${r.status}: ${r.reason ?? ''}` })),
          sum: active.sum,
          readBlock: readBlock?.read ?? null,
          length,
        },
        state,
      );
    } finally {
      readBlock?.close();
    }
    const roundMetrics = active.strategy.aggregateMetrics(accepted);
    if (outcome.kind === 'keep') {
      if (!active.base) {
        this.failRound(active, `strategy kept no model: ${outcome.reason}`, false);
        return;
      }
      this.publish(active, active.base.ref.version, roundMetrics, `kept the previous model: ${outcome.reason}`);
      return;
    }
    const bytes = encodeModelBlob({ manifest, weights: outcome.weights });
    let version = '';
    this.repo.durable(() => {
      const model = this.models.register({
        bytes,
        source: 'aggregate',
        phase: active.settings.phase,
        parent: active.base?.ref.version ?? null,
        experiment: experimentId,
        round,
        metrics: roundMetrics,
      });
      version = model.version;
      this.saveStrategyState(experimentId, version, state);
      this.publishRecords(active, version, roundMetrics, null);
    });
    this.finishPublish(active, version, null);
  }

  private publish(active: ActiveRound, version: string, roundMetrics: Record<string, number>, reason: string | null): void {
    this.repo.durable(() => this.publishRecords(active, version, roundMetrics, reason));
    this.finishPublish(active, version, reason);
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
    this.cleanup(active);
    this.emitRound(active, 'published');
    try {
      this.sessions.broadcast('model.published', this.models.published(version, active.settings.phase, active.experimentId));
    } catch (error) {
      this.logger.error(`announcing ${version}: ${(error as Error).message}`);
    }
    setImmediate(() => this.tick());
  }

  private failRound(active: ActiveRound, reason: string, aborted: boolean): void {
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
    this.cleanup(active);
    this.emitRound(active, 'failed', reason);
    if (stop) this.sessions.adminEmit('experiment', { experiment: experimentId, status: 'failed' });
    if (!aborted) setImmediate(() => this.tick());
  }

  private cleanup(active: ActiveRound): void {
    this.active.delete(active.experimentId);
    for (const site of active.folded.slice(active.checkpointed)) this.spool.recycle(join(active.dir, `${site}.sealed`));
    rmSync(active.dir, { recursive: true, force: true });
    for (const l of this.endedListeners) l(active.experimentId, active.round);
  }

  /** After a restart: rebuild every unfinished round from SQLite and its spooled updates. */
  private recover(): void {
    for (const record of this.repo.unfinishedRounds()) {
      const exp = this.repo.findExperiment(record.experimentId);
      if (!exp || (exp.status !== 'running' && exp.status !== 'paused')) {
        this.repo.updateRound(record.experimentId, record.round, { state: 'failed', closedAt: new Date().toISOString(), reason: 'experiment no longer running at restart' });
        continue;
      }
      if (exp.settings.secureAgg) {
        this.repo.updateRound(record.experimentId, record.round, { state: 'failed', closedAt: new Date().toISOString(), reason: 'secure aggregation rounds cannot resume after a restart' });
        this.audit.record('system', 'round.failed', { experiment: exp.id, round: record.round, reason: 'secure aggregation round interrupted by a restart' });
        continue;
      }
      const active = this.materialise(exp, record);
      const results = this.repo.results(exp.id, record.round);
      if (active.strategy.streaming) {
        const problem = this.restoreCheckpoint(active, new Set(results.filter((r) => r.status === 'accepted').map((r) => r.siteId)));
        if (problem) {
          this.repo.updateRound(record.experimentId, record.round, { state: 'failed', closedAt: new Date().toISOString(), reason: `cannot resume: ${problem}` });
          this.audit.record('system', 'round.failed', { experiment: exp.id, round: record.round, reason: `round checkpoint unusable after a restart: ${problem}` });
          rmSync(active.dir, { recursive: true, force: true });
          continue;
        }
      }
      let refolded = 0;
      for (const r of results) {
        if (r.status !== 'accepted') continue;
        if (active.folded.includes(r.siteId)) {
          // Already in the checkpointed sum (a crash may have left its envelope behind).
          rmSync(join(active.dir, `${r.siteId}.sealed`), { force: true });
          continue;
        }
        const file = join(active.dir, `${r.siteId}.${active.strategy.streaming ? 'sealed' : 'f32'}`);
        const weights = existsSync(file) ? (active.strategy.streaming ? this.reopen(file, r.siteId) : file) : null;
        if (!weights) {
          this.repo.setResult(exp.id, record.round, r.siteId, 'dropped', { reason: 'spooled update lost in a crash' });
          continue;
        }
        if (weights instanceof Float32Array) {
          active.sum ??= new WeightedSum(weights.length);
          active.sum.fold(weights, r.sampleCount ?? 1);
          active.folded.push(r.siteId);
        }
        refolded++;
      }
      this.active.set(exp.id, active);
      if (record.state === 'open') this.repo.updateRound(exp.id, record.round, { state: 'training' });
      this.audit.record('system', 'round.resumed', { experiment: exp.id, round: record.round, state: record.state, refolded, fromCheckpoint: active.checkpointed });
      this.logger.log(`resumed experiment ${exp.id} round ${record.round} (${record.state}, ${active.checkpointed} accepted updates from the checkpoint, ${refolded} re-folded)`);
      if (record.state === 'aggregating') setImmediate(() => this.close(active, 'resumed after a restart during aggregation'));
    }
  }

  /**
   * Writes the running sum and the sites in it to `sum.ckpt` (atomically: temporary file, then rename)
   * and deletes those sites' spooled envelopes, so a streaming round keeps at most
   * `roundCheckpointEvery` envelopes on disk instead of one per site (with a hundred 20 MB updates the
   * page cache they filled made every later spool write several times slower). A restart loads the
   * checkpoint and re-folds only the envelopes after it.
   *
   * Format: u32 LE header length, UTF-8 JSON header `{ length, count, totalWeight, sites }`, spaces to
   * a multiple of 8 bytes, then the float64 LE sum.
   */
  private checkpoint(active: ActiveRound): void {
    const sum = active.sum!;
    const header = Buffer.from(JSON.stringify({ length: sum.length, count: sum.count, totalWeight: sum.totalWeight, sites: active.folded }), 'utf8');
    const prefix = Buffer.alloc(Math.ceil((4 + header.length) / 8) * 8, 0x20);
    prefix.writeUInt32LE(header.length, 0);
    header.copy(prefix, 4);
    const file = join(active.dir, 'sum.ckpt');
    const temp = `${file}.tmp`;
    const fd = openSync(temp, 'w');
    try {
      for (const part of [prefix, new Uint8Array(sum.sum.buffer, sum.sum.byteOffset, sum.sum.byteLength)]) {
        let done = 0;
        while (done < part.length) done += writeSync(fd, part, done, part.length - done);
      }
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
    for (const site of active.folded.slice(active.checkpointed)) this.spool.recycle(join(active.dir, `${site}.sealed`));
    active.checkpointed = active.folded.length;
  }

  /**
   * Loads `sum.ckpt` (if any) into `active`; returns why it cannot be used: unreadable, or naming a
   * site the database does not have as accepted (e.g. a power cut lost the database's last
   * transactions but not the file), in which case the round is failed and run again.
   */
  private restoreCheckpoint(active: ActiveRound, accepted: ReadonlySet<string>): string | null {
    const file = join(active.dir, 'sum.ckpt');
    if (!existsSync(file)) return null;
    try {
      const bytes = readFileSync(file);
      const headerLength = bytes.readUInt32LE(0);
      const header = JSON.parse(bytes.subarray(4, 4 + headerLength).toString('utf8')) as { length: number; count: number; totalWeight: number; sites: string[] };
      const offset = Math.ceil((4 + headerLength) / 8) * 8;
      if (!Array.isArray(header.sites) || header.sites.length !== header.count || bytes.length !== offset + header.length * 8) return 'the checkpoint file is malformed';
      const missing = header.sites.find((site) => !accepted.has(site));
      if (missing) return `the checkpoint holds an update from ${missing} that the database has not accepted`;
      const sum = new WeightedSum(header.length);
      new Uint8Array(sum.sum.buffer, sum.sum.byteOffset, sum.sum.byteLength).set(bytes.subarray(offset));
      sum.count = header.count;
      sum.totalWeight = header.totalWeight;
      active.sum = sum;
      active.folded = [...header.sites];
      active.checkpointed = header.sites.length;
      return null;
    } catch (error) {
      return `the checkpoint file is unreadable (${(error as Error).message})`;
    }
  }

  /** Opens a spooled, already-accepted envelope again (after a restart); null if it no longer opens. */
  private reopen(file: string, siteId: string): Float32Array | null {
    const site = this.sites.find(siteId);
    if (!site) return null;
    const opened = openEnvelope(new Uint8Array(readFileSync(file)), fromBase64(site.signingPublicKey), this.identity.box.secretKey);
    return opened ? decodeModelBlob(opened.payload).weights : null;
  }

  private blockReader(active: ActiveRound, siteIds: string[]): { read: (offset: number, length: number) => Float32Array[]; close: () => void } {
    const fds = siteIds.map((id) => openSync(join(active.dir, `${id}.f32`), 'r'));
    return {
      read: (offset, length) =>
        fds.map((fd) => {
          const out = new Float32Array(length);
          const view = new Uint8Array(out.buffer);
          let done = 0;
          while (done < view.length) {
            const n = readSync(fd, view, done, view.length - done, offset * 4 + done);
            if (n === 0) throw new Error('spooled update is shorter than the model');
            done += n;
          }
          return out;
        }),
      close: () => fds.forEach((fd) => closeSync(fd)),
    };
  }

  private strategyDir(experimentId: string): string {
    return join(this.config.dataDir, 'strategy', experimentId);
  }

  private loadStrategyState(experimentId: string, version: string | null): StrategyState {
    const state: StrategyState = new Map();
    if (!version) return state;
    for (const key of ['m', 'v']) {
      const file = join(this.strategyDir(experimentId), `${version}.${key}.f32`);
      if (!existsSync(file)) continue;
      const bytes = readFileSync(file);
      state.set(key, new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
    }
    return state;
  }

  private saveStrategyState(experimentId: string, version: string, state: StrategyState): void {
    if (state.size === 0) return;
    mkdirSync(this.strategyDir(experimentId), { recursive: true });
    for (const [key, values] of state) {
      writeAtomically(join(this.strategyDir(experimentId), `${version}.${key}.f32`), Buffer.from(values.buffer, values.byteOffset, values.byteLength));
    }
  }

  private emitRound(active: ActiveRound, state: RoundEvent['state'], reason: string | null = null): void {
    const accepted = this.repo.statusCounts(active.experimentId, active.round).accepted ?? 0;
    const round = this.repo.findRound(active.experimentId, active.round);
    this.sessions.adminEmit('round', {
      experiment: active.experimentId,
      round: active.round,
      attempt: 1,
      state,
      participants: active.participants,
      accepted,
      modelVersion: round?.modelVersion ?? null,
      reason: reason ?? round?.reason ?? null,
    });
  }
}

function writeAtomically(file: string, bytes: Uint8Array): void {
  const temp = `${file}.tmp`;
  writeFileSync(temp, bytes);
  renameSync(temp, file);
}

function sizeOf(tensors: readonly TensorSpec[]): number {
  return tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
}
