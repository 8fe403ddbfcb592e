/**
 * A simulated site for coordinator tests and the coordinator bench: enrols over REST, holds a real
 * @fedct/crypto identity, and talks to the coordinator through the site agent's own protocol client
 * (src/client: authentication, chunked downloads and uploads, the SecAgg session). "Training" is a
 * deterministic function of the base weights, so tests can compute the expected aggregate exactly.
 */
import { createNonce, fromBase64, generateIdentity, seal, toBase64, type EnvelopeHeader, type Identity } from '@fedct/crypto';
import { decodeModelBlob, encodeModelBlob, NO_BASE_MODEL, type CommitResult, type EnrollResult, type EvaluationCounts, type EvaluationResultMessage, type ModelBlob, type ModelManifest, type Reply, type Task } from '@fedct/protocol';
import { authenticate, connected, connectSites, fetchModel, request, SecAggSession, sendUpdate, type PreparedUpload, type SiteSocket } from '../client';
import { splitIntoChunks } from '@fedct/crypto';
import { memoryLogger } from '../util/logger';

/** POST/GET JSON with the admin token; throws with the server's message on a non-2xx status. */
export async function api<T>(url: string, path: string, token: string | null, method = 'GET', body?: unknown): Promise<T> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} → ${response.status}: ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

/** Uploads a model blob as an admin; returns its registry entry. */
export async function uploadModel(url: string, token: string, bytes: Uint8Array, phase = 'denoiser'): Promise<{ version: string; sha256: string }> {
  const response = await fetch(`${url}/api/models?phase=${phase}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  if (!response.ok) throw new Error(`upload model → ${response.status}: ${await response.text()}`);
  return (await response.json()) as { version: string; sha256: string };
}

/** A small model manifest + deterministic weights. */
export function toyModel(size: number, seed = 1): ModelBlob {
  const manifest: ModelManifest = { model: 'toy', config: {}, tensors: [{ name: 'w', shape: [size - 4] }, { name: 'b', shape: [4] }] };
  const weights = new Float32Array(size);
  for (let i = 0; i < size; i++) weights[i] = Math.sin(i * 0.37 + seed);
  return { manifest, weights };
}

export interface SimSiteOptions {
  /** Samples claimed in each update (FedAvg weight). */
  sampleCount?: number;
  /** Seed of the identity's key pairs. */
  seed?: number;
  /** Answer tasks automatically (download, "train", upload). Default true. */
  autopilot?: boolean;
  /** Manifest used in round 1 when the task has no base model. */
  initModel?: ModelBlob;
  /** Keep downloaded models in memory (default true; the bench turns it off to hold 100 sites in one process). */
  cacheDownloads?: boolean;
  /** Secure aggregation: go silent at this stage (simulates a dropout). */
  secAggDropAt?: 'advertise' | 'share' | 'masked' | 'consistency' | 'unmask';
}

/** What "training" returns: the base plus `delta` on every weight (delta = site-specific). */
export function simulatedTraining(base: Float32Array, delta: number): Float32Array {
  const out = new Float32Array(base.length);
  for (let i = 0; i < base.length; i++) out[i] = base[i]! + delta;
  return out;
}

export type { PreparedUpload } from '../client';

/** Cuts a sealed update into chunks and hashes them, ready for {@link SimSite.upload}. */
export function prepareUpload(sealed: Uint8Array, chunkSize: number): PreparedUpload {
  return splitIntoChunks(sealed, chunkSize);
}

export class SimSite {
  socket: SiteSocket | null = null;
  readonly tasks: Task[] = [];
  readonly cancels: { experiment: string; round: number; reason: string }[] = [];
  readonly results: { task: Task; reply: Reply<CommitResult> }[] = [];
  revokedReason: string | null = null;
  /** Called for every task when autopilot is on; defaults to {@link SimSite.trainAndUpload}. */
  onTask: ((task: Task) => Promise<void>) | null = null;
  /** Why the SecAgg session left a round, if it did. */
  readonly secAggErrors: string[] = [];
  private readonly cache = new Map<string, Uint8Array>();
  private busy: Promise<void> = Promise.resolve();
  private secAgg: SecAggSession | null = null;
  private readonly secAggLog = memoryLogger();

  private constructor(
    public url: string,
    readonly name: string,
    readonly identity: Identity,
    readonly siteId: string,
    readonly coordinator: EnrollResult['coordinator'],
    readonly delta: number,
    readonly options: SimSiteOptions,
  ) {}

  /** Creates an enrolment token as admin and enrols a new site with a fresh (seeded) identity. */
  static async enroll(url: string, adminToken: string, name: string, delta: number, options: SimSiteOptions = {}): Promise<SimSite> {
    const { token } = await api<{ token: string }>(url, '/api/enrollment-tokens', adminToken, 'POST', { siteName: name });
    const seedBytes = new Uint8Array(32);
    seedBytes[0] = (options.seed ?? Math.floor(Math.random() * 1e6)) & 0xff;
    seedBytes[1] = ((options.seed ?? 0) >> 8) & 0xff;
    seedBytes.set(Buffer.from(name).subarray(0, 28), 4);
    const identity = generateIdentity(seedBytes);
    const enrolled = await api<EnrollResult>(url, '/api/enroll', null, 'POST', {
      token,
      signingPublicKey: toBase64(identity.signing.publicKey),
      boxPublicKey: toBase64(identity.box.publicKey),
    });
    return new SimSite(url, name, identity, enrolled.siteId, enrolled.coordinator, delta, options);
  }

  /** Connects to `/sites` and authenticates; resolves with the auth reply. */
  async connect(url = this.url, siteId = this.siteId, identity = this.identity): Promise<Reply<unknown>> {
    this.url = url;
    const socket = connectSites({ url, reconnectInitialMs: 0, reconnectMaxMs: 0 });
    this.socket = socket;
    socket.on('task', (task) => {
      this.tasks.push(task);
      if (task.secAgg) void this.secAggAdvertise(task);
      else if (this.options.autopilot !== false) this.enqueue(task);
    });
    socket.on('secagg:share-keys', (r) => void (this.options.secAggDropAt === 'share' ? undefined : this.secAgg?.onShareKeys(r)));
    socket.on('secagg:masked-input', (r) => void this.secAggMasked(r));
    socket.on('secagg:consistency-check', (r) => void (this.options.secAggDropAt === 'consistency' ? undefined : this.secAgg?.onConsistencyCheck(r)));
    socket.on('secagg:unmask', (r) => void (this.options.secAggDropAt === 'unmask' ? undefined : this.secAgg?.onUnmask(r).then(() => this.collectSecAggErrors())));
    socket.on('task.cancel', (c) => this.cancels.push(c));
    socket.on('revoked', (r) => {
      this.revokedReason = r.reason;
    });
    await connected(socket);
    const reply = await authenticate(socket, siteId, identity.signing.secretKey, 5000);
    if (reply.ok) await request(socket, 'heartbeat', { backend: 'cpu', gpu: false, datasets: { control: 3, covid: 2, cap: 1 } }, 5000);
    return reply;
  }

  /** After a reconnect: picks up the current task (if any) like a restarted agent. */
  async resume(): Promise<Task | null> {
    const reply = await request(this.socket!, 'task.current', {}, 5000);
    if (!reply.ok) throw new Error(reply.message);
    if (reply.data && this.options.autopilot !== false) this.enqueue(reply.data);
    return reply.data;
  }

  disconnect(): void {
    this.socket?.disconnect();
    this.socket = null;
  }

  /** Waits until queued tasks are done. */
  async idle(): Promise<void> {
    await this.busy;
  }

  private enqueue(task: Task): void {
    this.busy = this.busy.then(() => (this.onTask ?? ((t: Task) => this.trainAndUpload(t)))(task)).catch(() => undefined);
  }

  /** Downloads a model by chunks, checking each chunk and the whole sha256. */
  async download(sha256: string): Promise<Uint8Array> {
    const cached = this.cache.get(sha256);
    if (cached) return cached;
    const out = (await fetchModel(this.socket!, sha256)) as Uint8Array;
    if (this.options.cacheDownloads !== false) this.cache.set(sha256, out);
    return out;
  }

  /**
   * Downloads a model and checks it like {@link SimSite.download} without assembling it: what a site
   * that streams the model to disk spends (the bench's sites, which do not train).
   */
  async downloadAndVerify(sha256: string): Promise<void> {
    await fetchModel(this.socket!, sha256, { assemble: false });
  }

  /** The update this site would send for `task`: base + delta (or the init model + delta in round 1). */
  async train(task: Task): Promise<ModelBlob> {
    if (task.baseModel) {
      const base = decodeModelBlob(await this.download(task.baseModel.sha256));
      return { manifest: base.manifest, weights: simulatedTraining(base.weights, this.delta) };
    }
    const init = this.options.initModel ?? toyModel(64, task.initSeed);
    return { manifest: init.manifest, weights: simulatedTraining(init.weights, this.delta) };
  }

  /** Seals a payload for `task` (header fields can be overridden to forge bad updates). */
  sealPayload(task: Task, payload: Uint8Array, header: Partial<EnvelopeHeader> = {}, signingSecretKey = this.identity.signing.secretKey): Uint8Array {
    const full: EnvelopeHeader = {
      experiment: task.experiment,
      round: task.round,
      site: this.siteId,
      baseModelSha256: task.baseModel?.sha256 ?? NO_BASE_MODEL,
      sampleCount: this.options.sampleCount ?? 10,
      metrics: { loss: 1 / task.round },
      nonce: createNonce(),
      time: new Date().toISOString(),
      ...header,
    };
    return seal(full, payload, signingSecretKey, fromBase64(this.coordinator.boxPublicKey));
  }

  /** Seals an update (a model blob) for `task`. */
  sealUpdate(task: Task, blob: ModelBlob, header: Partial<EnvelopeHeader> = {}, signingSecretKey = this.identity.signing.secretKey): Uint8Array {
    return this.sealPayload(task, encodeModelBlob(blob), header, signingSecretKey);
  }

  /**
   * Uploads a sealed update in chunks and commits it (the client's `sendUpdate`). `stopAfterChunks`
   * simulates a dropped connection (resolves null after that many chunks); calling again with the
   * same bytes resumes. `sealed` may be already cut into chunks ({@link prepareUpload}).
   */
  async upload(task: Task, sealed: Uint8Array | PreparedUpload, options: { stopAfterChunks?: number; chunkSize?: number; onChunksDone?: () => void } = {}): Promise<Reply<CommitResult> | null> {
    const sent = await sendUpdate(this.socket!, task, sealed, { chunkSize: options.chunkSize ?? task.chunkSize, timeoutMs: 10_000, ...options });
    return sent?.reply ?? null;
  }

  private async secAggAdvertise(task: Task): Promise<void> {
    if (this.options.secAggDropAt === 'advertise' || !task.secAgg) return;
    this.secAgg = SecAggSession.create(this.socket!, task, this.siteId, this.identity.signing.secretKey, this.secAggLog);
    try {
      await this.secAgg.advertise();
    } catch (error) {
      this.secAggErrors.push((error as Error).message);
    }
  }

  /** Trains, masks the sample-weighted delta (the session) and uploads the masked vector as a sealed update. */
  private async secAggMasked(request: Record<string, unknown>): Promise<void> {
    const session = this.secAgg;
    const task = session?.task;
    if (this.options.secAggDropAt === 'masked' || !session || !task?.baseModel) return;
    session.onMaskedInput(request);
    try {
      const base = decodeModelBlob(await this.download(task.baseModel.sha256)).weights;
      const trained = simulatedTraining(base, this.delta);
      const delta = new Float32Array(base.length);
      for (let i = 0; i < base.length; i++) delta[i] = trained[i]! - base[i]!;
      const masked = await session.mask(delta, this.options.sampleCount ?? 10, Date.parse(task.deadline));
      const reply = await this.upload(task, this.sealPayload(task, masked, { metrics: {} }));
      if (reply) this.results.push({ task, reply });
    } catch (error) {
      this.secAggErrors.push((error as Error).message);
    }
    this.collectSecAggErrors();
  }

  private collectSecAggErrors(): void {
    for (const e of this.secAggLog.events.splice(0)) if (e.level === 'warn') this.secAggErrors.push(String(e.fields.reason ?? e.msg));
  }

  /** Answers an `evaluate` task with these counts (fields can be overridden to forge bad results). */
  async submitEvaluation(task: Task, counts: EvaluationCounts, overrides: Record<string, unknown> = {}): Promise<Reply<{ recorded: true }>> {
    const message = { experiment: task.experiment, round: task.round, classifierSha256: task.baseModel?.sha256 ?? '', split: task.evaluation?.split ?? 'val', nonce: createNonce(), counts, ...overrides };
    return request(this.socket!, 'evaluation.result', message as EvaluationResultMessage, 5000);
  }

  /** The autopilot: download, train, seal, upload, commit; records the commit reply. */
  async trainAndUpload(task: Task): Promise<void> {
    const blob = await this.train(task);
    const reply = await this.upload(task, this.sealUpdate(task, blob));
    if (reply) this.results.push({ task, reply });
  }
}
