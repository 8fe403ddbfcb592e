import { EventEmitter } from 'node:events';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createNonce, fromBase64, peekHeader, seal, signDetached, toBase64, type EnvelopeHeader } from '@fedct/crypto';
import { fnv1aSeed } from '@fedct/pipeline';
import { authMessage, decodeModelBlob, encodeModelBlob, NO_BASE_MODEL, publishedModelSchema, sha256Hex, type ModelBlob, type ModelRef, type Phase, type PublishedModel, type Task } from '@fedct/protocol';
import type { SiteFolder } from '../site/site-folder';
import { checkTask, effectiveDp } from '../site/site-policy';
import { controlSlices, infectionVolumes, localSampleCount } from '../training/local-data';
import { privacyWithRound, privatiseUpdate } from '../training/privacy';
import { classifierInput, configInput } from '../predict/predict.service';
import type { TrainingEngine } from '../training/training-engine';
import { CoordinatorLinkError, oneLine, PolicyViolationError } from '../util/errors';
import type { Logger } from '../util/logger';
import { call, connectSites, type SiteSocket } from '../client/socket';
import { writeDaemonState, type DaemonState } from './daemon-state';
import { SecAggSession } from '../client/secagg-session';
import { downloadModel, pendingUploadFile, savePendingUpload, uploadUpdate } from '../client/transfers';

/** Events a {@link SiteDaemon} emits (for tests, the CLI and the UI). */
export interface DaemonEvents {
  authenticated: { siteId: string };
  task: { experiment: string; round: number; phase: string };
  refused: { experiment: string; round: number; rule: string; reason: string };
  failed: { experiment: string; round: number; reason: string };
  submitted: { experiment: string; round: number; sealedBytes: number; bytesSent: number; resumedAt: number; metrics: Record<string, number> };
  trained: { experiment: string; round: number; sealedBytes: number };
  /** A published model version was downloaded, verified and recorded as the latest for its phase. */
  fetched: { phase: Phase; version: string; sha256: string; experiment: string | null };
}

export interface DaemonOptions {
  site: SiteFolder;
  engine: TrainingEngine;
  logger: Logger;
  /** Use this socket instead of connecting to the enrolled URL (tests). */
  socket?: SiteSocket;
  /** Heartbeat interval; default: the site's `daemon.heartbeatSeconds`. */
  heartbeatMs?: number;
  /** Seeds local training (shuffles, Perlin noise) together with experiment and round. */
  seed?: number;
  /** DP noise source (seeded in tests); default: secure random. */
  dpRandom?: () => number;
  /** Called for every chunk uploaded (tests use it to cut the connection mid-upload). */
  onUploadChunk?: (index: number, count: number) => void;
}

/**
 * `fedct-site run`: keeps a session with the coordinator (authenticates with the site's key, pins the
 * coordinator's key from enrolment, reconnects with back-off), reports heartbeats (backend and dataset
 * counts only), and for each task: checks it against the site's policy, downloads the base model,
 * trains, evaluates on the local validation split, applies DP, seals the update to the coordinator and
 * uploads it in resumable chunks. Nothing else leaves the site.
 */
export class SiteDaemon extends EventEmitter {
  private readonly socket: SiteSocket;
  private readonly siteId: string;
  private heartbeat: NodeJS.Timeout | null = null;
  private busy: Promise<void> | null = null;
  private busyKey: string | null = null;
  private queued: Task | null = null;
  private cancelled = new Set<string>();
  private stopped = false;
  private state: DaemonState;
  private secagg: SecAggSession | null = null;
  /** Downloads in progress by sha256 (a task and a `model.published` may name the same model at once). */
  private readonly downloads = new Map<string, Promise<Uint8Array>>();
  /** Serialises published-model fetches so `latest.json` ends at the newest announcement. */
  private publishedChain: Promise<void> = Promise.resolve();

  constructor(private readonly options: DaemonOptions) {
    super();
    const enrollment = options.site.requireEnrollment();
    this.siteId = enrollment.siteId;
    const daemon = options.site.config.daemon;
    this.socket =
      options.socket ??
      connectSites({
        url: enrollment.coordinatorUrl,
        reconnectInitialMs: daemon.reconnectInitialMs,
        reconnectMaxMs: daemon.reconnectMaxMs,
        ...(daemon.caFile ? { ca: readFileSync(daemon.caFile, 'utf8') } : {}),
      });
    this.state = { state: 'starting', since: new Date().toISOString(), pid: process.pid, backend: null, coordinator: enrollment.coordinatorUrl, task: null, lastRound: null, lastError: null };
  }

  override emit<K extends keyof DaemonEvents>(event: K, payload: DaemonEvents[K]): boolean {
    return super.emit(event, payload);
  }

  /** Resolves once for the next occurrence of `event` (tests). */
  next<K extends keyof DaemonEvents>(event: K): Promise<DaemonEvents[K]> {
    return new Promise((resolve) => this.once(event, resolve));
  }

  /** The underlying socket (tests cut it to simulate a lost connection). */
  get connection(): SiteSocket {
    return this.socket;
  }

  /** Starts the session; returns at once (the daemon runs until {@link stop}). */
  async start(): Promise<void> {
    const backend = await this.options.engine.backend();
    this.options.logger.info('site agent starting', { site: this.options.site.config.site.name, backend: backend.name, gpu: backend.gpu, threads: backend.threads, profile: this.options.engine.profileName });
    this.setState({ state: 'connecting', backend: backend.name });
    this.socket.on('connect', () => {
      void this.authenticate().catch((error: unknown) => this.onError('authentication failed', error));
    });
    this.socket.on('disconnect', (reason) => {
      this.options.logger.warn('disconnected from coordinator', { reason });
      this.setState({ state: 'offline' });
    });
    this.socket.on('connect_error', (error) => {
      this.options.logger.warn('cannot reach coordinator, retrying with back-off', { error: oneLine(error) });
    });
    this.socket.on('task', (task) => this.enqueue(task));
    this.socket.on('task.cancel', (payload) => {
      this.options.logger.info('task cancelled by coordinator', { experiment: payload.experiment, round: payload.round, reason: payload.reason });
      this.cancelled.add(`${payload.experiment}/${payload.round}`);
    });
    this.socket.on('model.published', (model) => this.onPublished(model));
    this.socket.on('secagg:share-keys', (request) => void this.secAggSession(request)?.onShareKeys(request));
    this.socket.on('secagg:masked-input', (request) => this.secAggSession(request)?.onMaskedInput(request));
    this.socket.on('secagg:consistency-check', (request) => void this.secAggSession(request)?.onConsistencyCheck(request));
    this.socket.on('secagg:unmask', (request) => void this.secAggSession(request)?.onUnmask(request));
    this.socket.on('revoked', (payload) => {
      this.options.logger.error('this site was revoked by the coordinator; stopping', { reason: payload.reason });
      void this.stop();
    });
    this.socket.connect();
  }

  /** Stops heartbeats and the connection; waits for a task in progress to reach a safe point. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.socket.disconnect();
    this.setState({ state: 'stopped' });
    await this.busy?.catch(() => undefined);
    await this.publishedChain;
  }

  private async authenticate(): Promise<void> {
    const site = this.options.site;
    const enrollment = site.requireEnrollment();
    const identity = site.identity();
    const { challenge } = await call(this.socket, 'challenge', {});
    const signature = toBase64(signDetached(authMessage(challenge, this.siteId), identity.signing.secretKey));
    const auth = await call(this.socket, 'auth', { siteId: this.siteId, signature });
    if (auth.coordinator.signingPublicKey !== enrollment.coordinator.signingPublicKey || auth.coordinator.boxPublicKey !== enrollment.coordinator.boxPublicKey) {
      this.socket.disconnect();
      throw new CoordinatorLinkError('the coordinator presented keys that differ from the ones pinned at enrolment; refusing to talk to it (re-enrol if the coordinator was legitimately re-keyed)', 'pin_mismatch');
    }
    this.options.logger.info('authenticated with coordinator', { siteId: auth.siteId, site: auth.siteName });
    this.setState({ state: 'online', lastError: null });
    this.emit('authenticated', { siteId: auth.siteId });
    await this.sendHeartbeat();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => void this.sendHeartbeat(), this.options.heartbeatMs ?? site.config.daemon.heartbeatSeconds * 1000);
    this.heartbeat.unref();
    const current = await call(this.socket, 'task.current', {});
    if (current) this.enqueue(current);
    const known = site.latestModels();
    for (const model of Object.values(auth.latestModels ?? {})) {
      if (model && known[model.phase]?.sha256 !== model.sha256) this.onPublished(model);
    }
  }

  /**
   * A model version the coordinator published (pushed, or the latest per phase after connecting):
   * downloads it through the verified, resumable chunk path and records it as the phase's latest model,
   * unless the site's policy opts out (`fetchPublishedModels: false`) or it is larger than `maxModelMb`.
   */
  private onPublished(payload: unknown): void {
    const parsed = publishedModelSchema.safeParse(payload);
    const logger = this.options.logger;
    if (!parsed.success) {
      logger.warn('ignored a malformed model.published announcement');
      return;
    }
    const model: PublishedModel = parsed.data;
    const policy = this.options.site.policy;
    if (!policy.fetchPublishedModels) {
      logger.debug('published model not fetched (policy fetchPublishedModels: false)', { version: model.version, phase: model.phase });
      return;
    }
    if (model.bytes > policy.maxModelMb * 1e6) {
      logger.warn('published model not fetched: larger than policy maxModelMb', { version: model.version, bytes: model.bytes, maxModelMb: policy.maxModelMb });
      return;
    }
    this.publishedChain = this.publishedChain.then(async () => {
      if (this.stopped) return;
      try {
        await this.fetchModel(model, model.phase);
        logger.info('published model fetched', { phase: model.phase, version: model.version, sha256: model.sha256.slice(0, 12), experiment: model.experiment });
        this.emit('fetched', { phase: model.phase, version: model.version, sha256: model.sha256, experiment: model.experiment });
      } catch (error) {
        logger.warn('could not fetch a published model; it is fetched again after reconnecting', { version: model.version, error: oneLine(error) });
      }
    });
  }

  private secAggSession(request: Record<string, unknown>): SecAggSession | null {
    if (this.secagg?.matches(request)) return this.secagg;
    this.options.logger.debug('secure aggregation request for another round ignored', { experiment: String(request.experiment), round: Number(request.round) });
    return null;
  }

  private async sendHeartbeat(): Promise<void> {
    if (!this.socket.connected) return;
    try {
      const backend = await this.options.engine.backend();
      const counts = this.options.site.index.counts();
      await call(this.socket, 'heartbeat', {
        backend: backend.name,
        gpu: backend.gpu,
        datasets: { studies: counts.studies, slices: counts.slices, ...counts.byLabel, ...counts.bySplit },
        agentVersion: '0.1.0',
      });
    } catch (error) {
      this.options.logger.debug('heartbeat not delivered', { error: oneLine(error) });
    }
  }

  private enqueue(task: Task): void {
    const key = `${task.experiment}/${task.round}`;
    if (this.stopped || key === this.busyKey) return;
    if (this.busy) {
      this.queued = task;
      return;
    }
    this.busyKey = key;
    this.busy = this.handle(task).finally(() => {
      this.busy = null;
      this.busyKey = null;
      const next = this.queued;
      this.queued = null;
      if (next) this.enqueue(next);
    });
  }

  private async handle(task: Task): Promise<void> {
    const site = this.options.site;
    const logger = this.options.logger;
    const key = `${task.experiment}/${task.round}`;
    this.emit('task', { experiment: task.experiment, round: task.round, phase: task.phase });
    logger.info('task received', { experiment: task.experiment, round: task.round, phase: task.phase, epochs: task.hyper.localEpochs });
    this.setState({ task: key });
    this.dropStalePendingUploads(task);
    try {
      const pending = pendingUploadFile(site.paths.transfers, task.experiment, task.round);
      let sealed: Uint8Array | null = existsSync(pending) ? new Uint8Array(readFileSync(pending)) : null;
      if (sealed && peekHeader(sealed)?.baseModelSha256 !== (task.baseModel?.sha256 ?? NO_BASE_MODEL)) sealed = null;
      if (sealed) {
        logger.info('resuming upload of an update already trained', { experiment: task.experiment, round: task.round });
      } else {
        const trained = await this.train(task);
        if (trained === null) return;
        let payload: Uint8Array;
        if (task.secAgg) {
          if (this.secagg?.task !== task) throw new CoordinatorLinkError('secure-aggregation session was lost', 'secagg_failed');
          const delta = new Float32Array(trained.weights.weights.length);
          for (let i = 0; i < delta.length; i++) delta[i] = (trained.weights.weights[i] ?? 0) - (trained.base.weights[i] ?? 0);
          payload = await this.secagg.mask(delta, trained.header.sampleCount, Date.parse(task.deadline));
        } else {
          payload = encodeModelBlob(trained.weights);
        }
        sealed = seal(trained.header, payload, site.identity().signing.secretKey, fromBase64(site.requireEnrollment().coordinator.boxPublicKey));
        savePendingUpload(site.paths.transfers, task.experiment, task.round, sealed);
        this.emit('trained', { experiment: task.experiment, round: task.round, sealedBytes: sealed.length });
      }
      if (this.cancelled.has(key)) throw new CoordinatorLinkError('round was cancelled by the coordinator', 'cancelled');
      this.setState({ state: 'uploading' });
      const result = await uploadUpdate(this.socket, { experiment: task.experiment, round: task.round, sealed, chunkSize: task.chunkSize }, logger, this.options.onUploadChunk);
      rmSync(pending, { force: true });
      const metrics = peekHeader(sealed)?.metrics ?? {};
      logger.info('update accepted by coordinator', { experiment: task.experiment, round: task.round, bytes: sealed.length, resumedAtChunk: result.resumedAt });
      this.setState({ state: 'online', task: null, lastRound: { experiment: task.experiment, round: task.round, result: 'accepted', detail: `${sealed.length} bytes`, at: new Date().toISOString() } });
      this.emit('submitted', { experiment: task.experiment, round: task.round, sealedBytes: sealed.length, ...result, metrics });
    } catch (error) {
      if (error instanceof CoordinatorLinkError && (error.code === 'disconnected' || error.code === 'timeout')) {
        logger.warn('connection lost during the task; it resumes after reconnecting', { experiment: task.experiment, round: task.round });
        this.setState({ state: 'offline', lastError: oneLine(error) });
        return;
      }
      const reason = oneLine(error);
      logger.error('task failed', { experiment: task.experiment, round: task.round, reason });
      this.setState({ state: 'online', task: null, lastError: reason, lastRound: { experiment: task.experiment, round: task.round, result: 'failed', detail: reason, at: new Date().toISOString() } });
      this.emit('failed', { experiment: task.experiment, round: task.round, reason });
      await this.reportFailure(task, reason);
    }
  }

  /**
   * Trains for a task; returns the envelope header, the weights to send (after DP and the norm bound)
   * and what they are relative to, or null when the task was refused.
   */
  private async train(task: Task): Promise<{ header: EnvelopeHeader; weights: ModelBlob; base: ModelBlob } | null> {
    const site = this.options.site;
    const logger = this.options.logger;
    const engine = this.options.engine;
    const dpTask = task.hyper.dp.required || task.hyper.dp.clipNorm !== undefined ? { clipNorm: task.hyper.dp.clipNorm ?? 1, noiseMultiplier: task.hyper.dp.noiseMultiplier ?? 0 } : null;
    const terms = { phase: task.phase, localEpochs: task.hyper.localEpochs, modelBytes: task.baseModel?.bytes ?? null, secureAggregation: task.secAgg !== undefined, dp: dpTask };
    try {
      checkTask(site.policy, terms, localSampleCount(site, task.phase));
      if (Date.parse(task.deadline) < Date.now()) throw new PolicyViolationError(`the round's deadline ${task.deadline} has passed`, 'deadline');
    } catch (error) {
      if (!(error instanceof PolicyViolationError)) throw error;
      logger.warn('task refused by site policy', { experiment: task.experiment, round: task.round, rule: error.rule, reason: error.message });
      this.setState({ state: 'online', task: null, lastRound: { experiment: task.experiment, round: task.round, result: 'refused', detail: error.message, at: new Date().toISOString() } });
      this.emit('refused', { experiment: task.experiment, round: task.round, rule: error.rule, reason: error.message });
      await this.reportFailure(task, `refused by site policy (${error.rule}): ${error.message}`);
      return null;
    }
    const dp = effectiveDp(site.policy, terms);
    const privacy = dp && dp.noiseMultiplier > 0 ? privacyWithRound(site.index, task.experiment, task.round, dp.noiseMultiplier, task.hyper.dp.delta ?? 1e-5) : null;
    if (privacy && task.hyper.dp.maxEpsilon !== undefined && privacy.epsilon > task.hyper.dp.maxEpsilon) {
      const message = `taking part would spend ε = ${privacy.epsilon.toFixed(2)} in this experiment, above its limit ${task.hyper.dp.maxEpsilon}`;
      logger.warn('task refused: privacy budget spent', { experiment: task.experiment, round: task.round, epsilon: privacy.epsilon });
      this.emit('refused', { experiment: task.experiment, round: task.round, rule: 'maxEpsilon', reason: message });
      await this.reportFailure(task, `refused by site (maxEpsilon): ${message}`);
      return null;
    }
    this.secagg = task.secAgg ? SecAggSession.create(this.socket, task, this.siteId, site.identity().signing.secretKey, logger) : null;
    await this.secagg?.advertise();
    this.setState({ state: 'downloading' });
    const base = task.baseModel ? await this.fetchModel(task.baseModel, task.phase) : null;
    // Repeatable: the same experiment settings (initSeed, phase, round) give this site the same shuffles,
    // pseudo-infection and dropout masks in every run (experiment and site ids are random per run).
    const seed = fnv1aSeed(`${this.options.seed ?? 0}/${task.initSeed}/${task.phase}/${task.round}/${site.config.site.name}`);
    // Round 1 without a global model: build from the experiment's sizes so every site's shapes agree.
    const modelConfig = !base && task.modelConfig ? { modelConfig: task.modelConfig } : {};
    this.setState({ state: 'training' });
    const started = Date.now();
    let outcome;
    let validation: Record<string, number> = {};
    if (task.phase === 'denoiser') {
      const slices = controlSlices(site, 'train');
      logger.info('training denoiser', { slices: slices.count, epochs: task.hyper.localEpochs });
      outcome = await engine.trainDenoiser({ base: base?.blob ?? null, initSeed: task.initSeed, ...modelConfig, hyper: task.hyper, seed, slices, onProgress: this.progressLog('training denoiser') });
      const val = controlSlices(site, 'val');
      if (val.count > 0) validation = await engine.evaluateDenoiser({ weights: outcome.weights, slices: val, seed: 1 });
    } else {
      if (!task.denoiser) throw new CoordinatorLinkError('classifier task names no frozen BCDU-Net (denoiser)', 'bad_task');
      const denoiser = await this.fetchModel(task.denoiser, 'denoiser');
      const input = base ? classifierInput(base.blob) : task.modelConfig ? configInput(task.modelConfig) : undefined;
      const train = await infectionVolumes(site, engine, denoiser, 'train', input, this.progressLog('infection volumes'));
      logger.info('training classifier', { studies: train.length, epochs: task.hyper.localEpochs, denoiser: denoiser.sha256.slice(0, 12) });
      outcome = await engine.trainClassifier({ base: base?.blob ?? null, initSeed: task.initSeed, ...modelConfig, hyper: task.hyper, seed, volumes: train, onProgress: this.progressLog('training classifier') });
      const val = await infectionVolumes(site, engine, denoiser, 'val', input);
      if (val.length > 0) validation = await engine.evaluateClassifier({ weights: outcome.weights, volumes: val });
    }
    const { weights, report } = privatiseUpdate(base?.blob ?? outcome.initial, outcome.weights, { dp, normBound: task.normBound, ...(this.options.dpRandom ? { random: this.options.dpRandom } : {}) });
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
      site: this.siteId,
      baseModelSha256: task.baseModel?.sha256 ?? NO_BASE_MODEL,
      sampleCount: outcome.sampleCount,
      metrics,
      nonce: createNonce(),
      time: new Date().toISOString(),
    };
    logger.info('local training done', { experiment: task.experiment, round: task.round, samples: outcome.sampleCount, seconds: Math.round(metrics.train_seconds), dp: dp !== null });
    return { header, weights, base: base?.blob ?? outcome.initial };
  }

  /** A progress callback that logs at most every 10 s (long local work stays visible in the service log). */
  private progressLog(what: string): (done: number, total: number) => void {
    let last = Date.now();
    return (done, total) => {
      if (Date.now() - last < 10_000 && done < total) return;
      last = Date.now();
      this.options.logger.info(`${what}: progress`, { done, total });
    };
  }

  private async fetchModel(ref: ModelRef, phase: 'denoiser' | 'classifier'): Promise<{ blob: ModelBlob; sha256: string }> {
    const site = this.options.site;
    let download = this.downloads.get(ref.sha256);
    if (!download) {
      download = downloadModel(this.socket, ref, { models: site.paths.models, transfers: site.paths.transfers }, this.options.logger).finally(() => this.downloads.delete(ref.sha256));
      this.downloads.set(ref.sha256, download);
    }
    const bytes = await download;
    if (sha256Hex(bytes) !== ref.sha256) throw new CoordinatorLinkError(`model ${ref.version} does not match its sha256`, 'bad_model');
    const latest = site.latestModels();
    if (latest[phase]?.sha256 !== ref.sha256) site.saveLatestModels({ ...latest, [phase]: { version: ref.version, sha256: ref.sha256 } });
    return { blob: decodeModelBlob(bytes), sha256: ref.sha256 };
  }

  private async reportFailure(task: Task, reason: string): Promise<void> {
    try {
      await call(this.socket, 'task.fail', { experiment: task.experiment, round: task.round, reason: reason.slice(0, 500) });
    } catch (error) {
      this.options.logger.debug('could not report the failure', { error: oneLine(error) });
    }
  }

  private dropStalePendingUploads(task: Task): void {
    const keep = pendingUploadFile(this.options.site.paths.transfers, task.experiment, task.round);
    if (!existsSync(this.options.site.paths.transfers)) return;
    for (const name of readdirSync(this.options.site.paths.transfers)) {
      const file = join(this.options.site.paths.transfers, name);
      if (name.startsWith('update-') && name.endsWith('.sealed') && file !== keep) rmSync(file, { force: true });
    }
  }

  private onError(message: string, error: unknown): void {
    const reason = oneLine(error);
    this.options.logger.error(message, { error: reason });
    this.setState({ lastError: reason });
    if (error instanceof CoordinatorLinkError && ['unknown_site', 'revoked', 'bad_signature', 'pin_mismatch'].includes(error.code)) void this.stop();
  }

  private setState(patch: Partial<DaemonState>): void {
    const changed = patch.state !== undefined && patch.state !== this.state.state;
    this.state = { ...this.state, ...patch, ...(changed ? { since: new Date().toISOString() } : {}) };
    try {
      writeDaemonState(this.options.site.paths, this.state);
    } catch {
      // The state file is a convenience for `status`; failing to write it must not stop training.
    }
  }
}
