import { EventEmitter } from 'node:events';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { peekHeader } from '@fedct/crypto';
import { decodeModelBlob, NO_BASE_MODEL, publishedModelSchema, sha256Hex, type ModelBlob, type ModelRef, type Phase, type PublishedModel, type Task } from '@fedct/protocol';
import { runLocalEvaluation } from '../evaluation/local-evaluation';
import type { SiteFolder } from '../site/site-folder';
import { runLocalRound, type LocalRoundContext, type Refusal } from '../training/local-round';
import type { TrainingEngine } from '../training/training-engine';
import { CoordinatorLinkError, oneLine } from '../util/errors';
import type { Logger } from '../util/logger';
import { call, connectSites, ServerCloseReconnect, type SiteSocket } from '../client/socket';
import { authenticate } from '../client/session';
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
  /** An evaluation's counts were sent (the site measured `classifier` on `split`, `n` studies). */
  evaluated: { experiment: string; classifier: string; split: string; n: number };
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
  /** Reconnects after the coordinator closed the session (socket.io does not retry those by itself). */
  private readonly reconnect: ServerCloseReconnect;
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
    this.reconnect = new ServerCloseReconnect(this.socket, daemon, (inMs) => options.logger.info('reconnecting to the coordinator', { inMs }));
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
      // A coordinator that shuts down (SIGTERM, `systemctl restart`) closes the session itself.
      if (reason === 'io server disconnect' && !this.stopped) this.reconnect.schedule();
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
    this.reconnect.cancel();
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
    const reply = await authenticate(this.socket, this.siteId, identity.signing.secretKey, 60_000);
    if (!reply.ok) {
      const lost = reply.code === 'timeout' || reply.code === 'disconnected';
      throw new CoordinatorLinkError(lost ? reply.message : `coordinator refused authentication: ${reply.message}`, reply.code);
    }
    const auth = reply.data;
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
    logger.info('task received', task.kind === 'evaluate'
      ? { experiment: task.experiment, kind: 'evaluate', split: task.evaluation?.split ?? 'val', model: task.baseModel?.version ?? null }
      : { experiment: task.experiment, round: task.round, phase: task.phase, epochs: task.hyper.localEpochs });
    this.setState({ task: key });
    if (task.kind === 'evaluate') return this.evaluate(task);
    this.dropStalePendingUploads(task);
    try {
      const pending = pendingUploadFile(site.paths.transfers, task.experiment, task.round);
      let sealed: Uint8Array | null = existsSync(pending) ? new Uint8Array(readFileSync(pending)) : null;
      if (sealed && peekHeader(sealed)?.baseModelSha256 !== (task.baseModel?.sha256 ?? NO_BASE_MODEL)) sealed = null;
      if (sealed) {
        logger.info('resuming upload of an update already trained', { experiment: task.experiment, round: task.round });
      } else {
        // The session must be reachable for stage requests while the site trains.
        this.secagg = task.secAgg ? SecAggSession.create(this.socket, task, this.siteId, site.identity().signing.secretKey, logger) : null;
        const round = await runLocalRound(task, this.localRoundContext(), this.secagg);
        if ('refused' in round) return await this.refuse(task, round.refused);
        sealed = round.sealed;
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
      await this.taskError(task, error);
    }
  }

  /**
   * A federated evaluation task (evaluation/local-evaluation.ts): only the aggregate counts go back
   * (`evaluation.result`); they are kept in the site's index, so `predict` can say how the model did here.
   */
  private async evaluate(task: Task): Promise<void> {
    const site = this.options.site;
    const logger = this.options.logger;
    try {
      const measured = await runLocalEvaluation(task, { ...this.localRoundContext(), setStage: (stage) => this.setState({ state: stage }) });
      if ('refused' in measured) return await this.refuse(task, measured.refused);
      const { message, calibration } = measured;
      await call(this.socket, 'evaluation.result', message);
      site.index.recordEvaluation({ evaluation: task.experiment, classifierSha256: message.classifierSha256, classifierVersion: task.baseModel?.version ?? '', denoiserSha256: task.denoiser?.sha256 ?? '', split: message.split, counts: message.counts, at: new Date().toISOString() });
      const correct = message.counts.confusion.reduce((n, row, i) => n + (row[i] ?? 0), 0);
      logger.info('evaluation sent', { experiment: task.experiment, classifier: task.baseModel?.version ?? '', split: message.split, studies: message.counts.n, correct, calibratedScanners: Object.keys(calibration).length });
      this.setState({ state: 'online', task: null, lastRound: { experiment: task.experiment, round: task.round, result: 'evaluated', detail: `${correct} of ${message.counts.n} ${message.split} studies right`, at: new Date().toISOString() } });
      this.emit('evaluated', { experiment: task.experiment, classifier: task.baseModel?.version ?? '', split: message.split, n: message.counts.n });
    } catch (error) {
      await this.taskError(task, error);
    }
  }

  /** A task that could not finish: a lost connection resumes later; anything else is reported as failed. */
  private async taskError(task: Task, error: unknown): Promise<void> {
    const logger = this.options.logger;
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

  /** What a local round (training/local-round.ts) uses of this daemon. */
  private localRoundContext(): LocalRoundContext {
    return {
      site: this.options.site,
      engine: this.options.engine,
      logger: this.options.logger,
      siteId: this.siteId,
      fetchModel: (ref, phase, recordLatest) => this.fetchModel(ref, phase, recordLatest),
      setStage: (stage) => this.setState({ state: stage }),
      progress: (what) => this.progressLog(what),
      ...(this.options.seed !== undefined ? { seed: this.options.seed } : {}),
      ...(this.options.dpRandom ? { dpRandom: this.options.dpRandom } : {}),
    };
  }

  /** The site's rules said no: logged, recorded, and told to the coordinator so the round need not wait. */
  private async refuse(task: Task, refusal: Refusal): Promise<void> {
    const logger = this.options.logger;
    const byPolicy = refusal.rule !== 'maxEpsilon';
    logger.warn(byPolicy ? 'task refused by site policy' : 'task refused: privacy budget spent', { experiment: task.experiment, round: task.round, rule: refusal.rule, reason: refusal.reason });
    this.setState({ state: 'online', task: null, lastRound: { experiment: task.experiment, round: task.round, result: 'refused', detail: refusal.reason, at: new Date().toISOString() } });
    this.emit('refused', { experiment: task.experiment, round: task.round, rule: refusal.rule, reason: refusal.reason });
    await this.reportFailure(task, `refused by site${byPolicy ? ' policy' : ''} (${refusal.rule}): ${refusal.reason}`);
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

  /** A model a task names, downloaded (resumable) and verified; `recordLatest`: it becomes the phase's latest model. */
  private async fetchModel(ref: ModelRef, phase: 'denoiser' | 'classifier', recordLatest = true): Promise<{ blob: ModelBlob; sha256: string }> {
    const site = this.options.site;
    let download = this.downloads.get(ref.sha256);
    if (!download) {
      download = downloadModel(this.socket, ref, { models: site.paths.models, transfers: site.paths.transfers }, this.options.logger).finally(() => this.downloads.delete(ref.sha256));
      this.downloads.set(ref.sha256, download);
    }
    const bytes = await download;
    if (sha256Hex(bytes) !== ref.sha256) throw new CoordinatorLinkError(`model ${ref.version} does not match its sha256`, 'bad_model');
    const latest = site.latestModels();
    if (recordLatest && latest[phase]?.sha256 !== ref.sha256) site.saveLatestModels({ ...latest, [phase]: { version: ref.version, sha256: ref.sha256 } });
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
