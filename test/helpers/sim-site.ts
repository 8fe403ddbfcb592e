/**
 * A simulated site agent for coordinator tests and the coordinator bench: enrols over REST, holds a
 * real @fedct/crypto identity, authenticates on `/sites` with a signed challenge, downloads models in
 * chunks and uploads sealed, chunked updates, using only @fedct/protocol messages. "Training" is a
 * deterministic function of the base weights so tests can compute the expected aggregate exactly.
 */
import { createHash } from 'node:crypto';
import {
  advertiseKeys,
  consistencyCheck,
  createNonce,
  fromBase64,
  generateIdentity,
  maskedInput,
  seal,
  shareKeys,
  signDetached,
  splitIntoChunks,
  toBase64,
  unmask,
  type ConsistencyCheckRequest,
  type EnvelopeHeader,
  type Identity,
  type MaskedInputRequest,
  type ShareKeysRequest,
  type SiteSecAggState,
  type UnmaskRequest,
} from '@fedct/crypto';
import {
  NO_BASE_MODEL,
  SITES_NAMESPACE,
  authMessage,
  decodeModelBlob,
  encodeModelBlob,
  sha256Hex,
  type CommitResult,
  type CoordinatorToSiteEvents,
  type EnrollResult,
  type ModelBlob,
  type ModelManifest,
  type Reply,
  type SiteToCoordinatorEvents,
  type Task,
} from '@fedct/protocol';
import { io, type Socket } from 'socket.io-client';

export type SiteSocket = Socket<CoordinatorToSiteEvents, SiteToCoordinatorEvents>;

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

/** A sealed update cut into chunks with its manifest (what {@link SimSite.upload} sends). */
export type PreparedUpload = ReturnType<typeof splitIntoChunks>;

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
  private readonly cache = new Map<string, Uint8Array>();
  private busy: Promise<void> = Promise.resolve();

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
    const socket: SiteSocket = io(`${url}${SITES_NAMESPACE}`, { transports: ['websocket'], reconnection: false, forceNew: true });
    this.socket = socket;
    socket.on('task', (task) => {
      this.tasks.push(task);
      if (task.secAgg) void this.secAggAdvertise(task);
      else if (this.options.autopilot !== false) this.enqueue(task);
    });
    socket.on('secagg:share-keys', (request) => void this.secAggStep('share', () => shareKeys(this.secAggState!, request as unknown as ShareKeysRequest), 'secagg:share-keys'));
    socket.on('secagg:masked-input', (request) => void this.secAggMasked(request as unknown as MaskedInputRequest));
    socket.on('secagg:consistency-check', (request) =>
      void this.secAggStep('consistency', () => consistencyCheck(this.secAggState!, request as unknown as ConsistencyCheckRequest, this.identity.signing.secretKey), 'secagg:consistency-check'),
    );
    socket.on('secagg:unmask', (request) => void this.secAggStep('unmask', () => unmask(this.secAggState!, request as unknown as UnmaskRequest), 'secagg:unmask'));
    socket.on('task.cancel', (c) => this.cancels.push(c));
    socket.on('revoked', (r) => {
      this.revokedReason = r.reason;
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    const challenge = await socket.timeout(5000).emitWithAck('challenge', {});
    if (!challenge.ok) return challenge;
    const signature = toBase64(signDetached(authMessage(challenge.data.challenge, siteId), identity.signing.secretKey));
    const reply = await socket.timeout(5000).emitWithAck('auth', { siteId, signature });
    if (reply.ok) await socket.timeout(5000).emitWithAck('heartbeat', { backend: 'cpu', gpu: false, datasets: { control: 3, covid: 2, cap: 1 } });
    return reply;
  }

  /** After a reconnect: picks up the current task (if any) like a restarted agent. */
  async resume(): Promise<Task | null> {
    const reply = await this.socket!.timeout(5000).emitWithAck('task.current', {});
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

  /** Downloads a model by chunks (resumable by index), checking each chunk and the whole sha256. */
  async download(sha256: string): Promise<Uint8Array> {
    const cached = this.cache.get(sha256);
    if (cached) return cached;
    const out = await this.fetchChunks(sha256, true);
    if (this.options.cacheDownloads !== false) this.cache.set(sha256, out!);
    return out!;
  }

  /**
   * Downloads a model and checks it like {@link SimSite.download} (every chunk, then the whole sha256,
   * hashed as the chunks arrive) without assembling it: what a site that streams the model to disk
   * spends (the bench's sites, which do not train).
   */
  async downloadAndVerify(sha256: string): Promise<void> {
    await this.fetchChunks(sha256, false);
  }

  private async fetchChunks(sha256: string, assemble: boolean): Promise<Uint8Array | null> {
    const socket = this.socket!;
    const manifest = await socket.timeout(10_000).emitWithAck('model.manifest', { sha256 });
    if (!manifest.ok) throw new Error(manifest.message);
    const out = assemble ? new Uint8Array(manifest.data.totalBytes) : null;
    const whole = createHash('sha256');
    for (let i = 0; i < manifest.data.count; i++) {
      const chunk = await socket.timeout(10_000).emitWithAck('model.chunk', { sha256, index: i });
      if (!chunk.ok) throw new Error(chunk.message);
      const bytes = chunk.data.bytes; // a Buffer from the socket: checked (and copied into `out`), no extra copy
      if (sha256Hex(bytes) !== manifest.data.chunkSha256[i]) throw new Error(`chunk ${i} hash mismatch`);
      whole.update(bytes);
      out?.set(bytes, i * manifest.data.chunkSize);
    }
    if (whole.digest('hex') !== sha256) throw new Error('model hash mismatch');
    return out;
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

  /** Seals an update for `task` (header fields can be overridden to forge bad updates). */
  sealUpdate(task: Task, blob: ModelBlob, header: Partial<EnvelopeHeader> = {}, signingSecretKey = this.identity.signing.secretKey): Uint8Array {
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
    return seal(full, encodeModelBlob(blob), signingSecretKey, fromBase64(this.coordinator.boxPublicKey));
  }

  /**
   * Uploads a sealed update in chunks and commits it. `stopAfterChunks` simulates a dropped connection
   * (resolves null after that many chunks); calling again with the same bytes resumes. `sealed` may be
   * already cut into chunks ({@link prepareUpload}; the bench does that before the round, with the sealing).
   */
  async upload(
    task: Task,
    sealed: Uint8Array | PreparedUpload,
    options: { stopAfterChunks?: number; chunkSize?: number; onChunksDone?: () => void } = {},
  ): Promise<Reply<CommitResult> | null> {
    const socket = this.socket!;
    const { manifest, chunks } = sealed instanceof Uint8Array ? splitIntoChunks(sealed, options.chunkSize ?? task.chunkSize) : sealed;
    const begin = await socket.timeout(10_000).emitWithAck('update.begin', { experiment: task.experiment, round: task.round, manifest });
    if (!begin.ok) return begin;
    let next = begin.data.nextIndex;
    let sent = 0;
    while (next !== null) {
      if (options.stopAfterChunks !== undefined && sent >= options.stopAfterChunks) return null;
      const reply = await socket.timeout(10_000).emitWithAck('update.chunk', { uploadId: begin.data.uploadId, index: next, bytes: chunks[next]! });
      if (!reply.ok) return reply;
      next = reply.data.nextIndex;
      sent++;
    }
    options.onChunksDone?.();
    return socket.timeout(30_000).emitWithAck('update.commit', { uploadId: begin.data.uploadId });
  }

  secAggState: SiteSecAggState | null = null;
  readonly secAggErrors: string[] = [];
  private secAggTask: Task | null = null;

  private async secAggAdvertise(task: Task): Promise<void> {
    if (this.options.secAggDropAt === 'advertise' || !task.secAgg) return;
    this.secAggTask = task;
    const { state, message } = advertiseKeys(task.secAgg, this.siteId, this.identity.signing.secretKey);
    this.secAggState = state;
    const reply = await this.socket!.timeout(10_000).emitWithAck('secagg:advertise-keys', message as unknown as Parameters<SiteToCoordinatorEvents['secagg:advertise-keys']>[0]);
    if (!reply.ok) this.secAggErrors.push(reply.message);
  }

  private async secAggStep(
    stage: 'share' | 'consistency' | 'unmask',
    run: () => { state: SiteSecAggState; message: object },
    event: 'secagg:share-keys' | 'secagg:consistency-check' | 'secagg:unmask',
  ): Promise<void> {
    if (this.options.secAggDropAt === stage || !this.secAggState) return;
    try {
      const { state, message } = run();
      this.secAggState = state;
      const reply = await this.socket!.timeout(10_000).emitWithAck(event, message as unknown as Parameters<SiteToCoordinatorEvents['secagg:unmask']>[0]);
      if (!reply.ok) this.secAggErrors.push(reply.message);
    } catch (error) {
      this.secAggErrors.push((error as Error).message);
    }
  }

  /** Trains, masks the sample-weighted delta and uploads the masked vector as a sealed update. */
  private async secAggMasked(request: MaskedInputRequest): Promise<void> {
    const task = this.secAggTask;
    if (this.options.secAggDropAt === 'masked' || !this.secAggState || !task?.baseModel) return;
    try {
      const base = decodeModelBlob(await this.download(task.baseModel.sha256)).weights;
      const trained = simulatedTraining(base, this.delta);
      const delta = new Float32Array(base.length);
      for (let i = 0; i < base.length; i++) delta[i] = trained[i]! - base[i]!;
      const { state, maskedVector } = maskedInput(this.secAggState, request, delta, this.options.sampleCount ?? 10);
      this.secAggState = state;
      const full: EnvelopeHeader = {
        experiment: task.experiment,
        round: task.round,
        site: this.siteId,
        baseModelSha256: task.baseModel.sha256,
        sampleCount: this.options.sampleCount ?? 10,
        metrics: {},
        nonce: createNonce(),
        time: new Date().toISOString(),
      };
      const reply = await this.upload(task, seal(full, maskedVector, this.identity.signing.secretKey, fromBase64(this.coordinator.boxPublicKey)));
      if (reply) this.results.push({ task, reply });
    } catch (error) {
      this.secAggErrors.push((error as Error).message);
    }
  }

  /** The autopilot: download, train, seal, upload, commit; records the commit reply. */
  async trainAndUpload(task: Task): Promise<void> {
    const blob = await this.train(task);
    const reply = await this.upload(task, this.sealUpdate(task, blob));
    if (reply) this.results.push({ task, reply });
  }
}
