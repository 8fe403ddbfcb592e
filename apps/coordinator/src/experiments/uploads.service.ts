import { closeSync, existsSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { createHash, webcrypto } from 'node:crypto';
import { join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import type { Identity } from '@fedct/crypto';
import { NO_BASE_MODEL, type ChunkManifestMessage, type CommitResult, type ErrorCode, type UpdateBegin, type UpdateChunk, type UploadState } from '@fedct/protocol';
import { AuditService } from '../core/audit.service';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../core/coordinator.config';
import { DATABASE, type Db } from '../core/database';
import { CoordinatorError } from '../core/errors';
import { COORDINATOR_IDENTITY } from '../core/identity';
import { MetricsService } from '../core/metrics.service';
import { SessionRegistry } from '../core/sessions.service';
import { SitesService } from '../sites/sites.service';
import { ExperimentsRepository } from './experiments.repository';
import { RoundsService } from './rounds.service';
import { SpoolPool } from './spool-pool';
import { sameTensors } from './update-check';
import type { VerifyOutcome } from './verify.job';
import { VerifierPool } from './verifier.pool';

interface UploadRow {
  id: string;
  site_id: string;
  experiment_id: string;
  round: number;
  manifest: string;
}

interface OpenUpload {
  row: UploadRow;
  manifest: ChunkManifestMessage;
  received: Set<number>;
  lastActivity: number;
  fd: number | null;
}

/** Room in a verification result buffer for the model blob's header and manifest, beyond its weights. */
const RESULT_SLACK_BYTES = 1024 * 1024;

/** An upload that saw no chunk for this long no longer counts against `maxConcurrentUploads`. */
const IDLE_UPLOAD_MS = 60_000;

/**
 * Update uploads: chunks are verified against the manifest and written straight into a spool file
 * (`uploads/<id>.part`, preallocated), so memory stays O(chunk) per upload. Which chunks are there is
 * kept in memory and, after a coordinator restart, recovered by hashing the spool file against the
 * manifest (no per-chunk database write), so an upload resumes after a disconnect or a restart.
 * `commit` verifies the whole file, opens the envelope and checks it (signature, replay, round,
 * base model, shapes, NaN/Inf, norm); every rejection is audited and counted.
 */
@Injectable()
export class UploadsService {
  private readonly open = new Map<string, OpenUpload>();
  private readonly dir: string;

  constructor(
    @Inject(COORDINATOR_CONFIG) private readonly config: CoordinatorConfig,
    @Inject(DATABASE) private readonly db: Db,
    @Inject(ExperimentsRepository) private readonly repo: ExperimentsRepository,
    @Inject(RoundsService) private readonly rounds: RoundsService,
    @Inject(SitesService) private readonly sites: SitesService,
    @Inject(SessionRegistry) private readonly sessions: SessionRegistry,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(COORDINATOR_IDENTITY) private readonly identity: Identity,
    @Inject(VerifierPool) private readonly verifier: VerifierPool,
    @Inject(SpoolPool) private readonly spool: SpoolPool,
  ) {
    this.dir = join(config.dataDir, 'uploads');
    mkdirSync(this.dir, { recursive: true });
    this.rounds.onRoundEnded((experimentId, round) => this.discardRound(experimentId, round));
  }

  /** Drops the unfinished uploads of a round that ended (their spool files and rows). */
  discardRound(experimentId: string, round: number): void {
    const ids = this.db.prepare<[string, number], { id: string }>('SELECT id FROM uploads WHERE experiment_id = ? AND round = ?').all(experimentId, round);
    for (const { id } of ids) this.discard(id);
  }

  /** Starts or resumes an upload; `nextIndex` is the first chunk the coordinator lacks. */
  begin(siteId: string, request: UpdateBegin): UploadState {
    const active = this.rounds.activeRound(request.experiment);
    if (!active || active.round !== request.round || active.closing) {
      throw new CoordinatorError(`round ${request.round} of ${request.experiment} is not accepting updates`, 'round_closed');
    }
    const result = this.repo.result(request.experiment, request.round, siteId);
    if (!result) throw new CoordinatorError(`this site is not a participant of round ${request.round}`, 'no_task');
    if (result.status !== 'invited') throw new CoordinatorError(`this site's update for round ${request.round} is already ${result.status}`, 'rejected_duplicate');
    const m = request.manifest;
    const maxChunk = this.config.limits.maxMessageBytes - 64 * 1024;
    if (m.totalBytes > this.config.limits.maxUpdateBytes) throw new CoordinatorError(`update of ${m.totalBytes} bytes exceeds the limit ${this.config.limits.maxUpdateBytes}`, 'too_large');
    if (m.chunkSize > maxChunk) throw new CoordinatorError(`chunk size ${m.chunkSize} exceeds ${maxChunk}`, 'too_large');
    if (m.count !== Math.ceil(m.totalBytes / m.chunkSize) || m.chunkSha256.length !== m.count) throw new CoordinatorError('chunk manifest is inconsistent', 'bad_message');
    const id = createHash('sha256').update(`${siteId}\n${request.experiment}\n${request.round}\n${m.sha256}`).digest('hex').slice(0, 32);
    let upload = this.load(id);
    if (!upload) {
      this.pruneIdle();
      if (this.open.size >= this.config.limits.maxConcurrentUploads) throw new CoordinatorError('too many uploads in progress; retry shortly', 'busy');
      if (active.uploadBytes + m.totalBytes > this.config.limits.maxRoundBytes) throw new CoordinatorError('this round has received its byte limit', 'too_large');
      active.uploadBytes += m.totalBytes;
      const manifestJson = JSON.stringify(m);
      this.db
        .prepare('INSERT INTO uploads (id, site_id, experiment_id, round, manifest, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(id, siteId, request.experiment, request.round, manifestJson, new Date().toISOString());
      const fd = this.spool.create(this.file(id), m.totalBytes);
      // A new (or recycled) spool file counts no chunk yet: no need to hash it against the manifest
      // (load() does that only for a file found on disk, after a restart or an idle eviction). Kept
      // open for writes.
      upload = { row: { id, site_id: siteId, experiment_id: request.experiment, round: request.round, manifest: manifestJson }, manifest: m, received: new Set(), lastActivity: Date.now(), fd };
      this.open.set(id, upload);
    }
    if (upload.row.site_id !== siteId) throw new CoordinatorError('upload belongs to another site', 'not_found', 404);
    return { uploadId: id, nextIndex: nextMissing(upload) };
  }

  /**
   * Verifies one chunk against the manifest and writes it in place. The chunk's SHA-256 runs on
   * libuv's thread pool (WebCrypto), off the main thread, which is the one part of the coordinator
   * that does not scale with cores (sockets, the round's rules, the fold).
   */
  async chunk(siteId: string, request: UpdateChunk): Promise<UploadState> {
    const upload = this.load(request.uploadId);
    if (!upload || upload.row.site_id !== siteId) throw new CoordinatorError(`no upload ${request.uploadId}`, 'not_found');
    const m = upload.manifest;
    if (request.index >= m.count) throw new CoordinatorError(`chunk ${request.index} is out of range (0..${m.count - 1})`, 'bad_chunk');
    const expectedLength = Math.min(m.chunkSize, m.totalBytes - request.index * m.chunkSize);
    if (request.bytes.length !== expectedLength) throw new CoordinatorError(`chunk ${request.index} has ${request.bytes.length} bytes, expected ${expectedLength}`, 'bad_chunk');
    const digest = Buffer.from(await webcrypto.subtle.digest('SHA-256', request.bytes)).toString('hex');
    if (digest !== m.chunkSha256[request.index]) throw new CoordinatorError(`chunk ${request.index} does not match its sha256`, 'bad_chunk');
    // While the hash ran the upload may have been committed, discarded with its round or evicted
    // (its descriptor closed): never write through a descriptor that is no longer this upload's.
    if (this.open.get(request.uploadId) !== upload) throw new CoordinatorError(`no upload ${request.uploadId}`, 'not_found');
    if (!upload.received.has(request.index)) {
      upload.fd ??= openSync(this.file(upload.row.id), 'r+');
      let done = 0;
      while (done < request.bytes.length) done += writeSync(upload.fd, request.bytes, done, request.bytes.length - done, request.index * m.chunkSize + done);
      upload.received.add(request.index);
      this.metrics.inc('fedct_bytes_in_total', request.bytes.length);
    }
    upload.lastActivity = Date.now();
    return { uploadId: upload.row.id, nextIndex: nextMissing(upload) };
  }

  /**
   * Verifies and opens the update (on a verification worker), then, back on the main thread, checks
   * it against the round as it is now; accepted → folded into the round, otherwise a `rejected_*` error.
   */
  async commit(siteId: string, uploadId: string): Promise<CommitResult> {
    const upload = this.load(uploadId);
    if (!upload || upload.row.site_id !== siteId) throw new CoordinatorError(`no upload ${uploadId}`, 'not_found');
    const missing = nextMissing(upload);
    if (missing !== null) throw new CoordinatorError(`chunk ${missing} is still missing`, 'incomplete');
    this.release(upload);
    // Every chunk was checked against the manifest and the envelope signature covers every byte,
    // so the whole file is not hashed again here; a version 2 envelope's signature is verified from
    // those same chunk hashes (verifiedChunks), so the file is not hashed a second time for it either.
    const file = this.file(uploadId);
    const row = upload.row;
    this.db.prepare('DELETE FROM uploads WHERE id = ?').run(uploadId);
    this.open.delete(uploadId);
    try {
      const site = this.sites.find(siteId);
      if (!site || site.revokedAt) return this.reject(siteId, row, 'rejected_site', 'site is not enrolled or revoked');
      const active = this.rounds.activeRound(row.experiment_id);
      const base = active?.base?.weights ?? null;
      const lease = await this.verifier.run({
        file,
        verifiedChunks: { chunkSize: upload.manifest.chunkSize, chunkSha256: upload.manifest.chunkSha256 },
        siteId,
        signingPublicKey: site.signingPublicKey,
        boxSecretKey: this.identity.box.secretKey,
        secure: active?.secagg !== null && active?.secagg !== undefined,
        tensors: active ? this.rounds.expectedTensors(active) : null,
        base,
        normBound: active?.settings.normBound ?? null,
      },
      // Room for the base model's blob (its weights plus a manifest): decrypted into a shared buffer.
      base ? base.byteLength + RESULT_SLACK_BYTES : null);
      try {
        return this.decide(siteId, row, lease.outcome, file);
      } finally {
        // decide() folds or spools the weights synchronously: the shared buffer is free again.
        lease.release();
      }
    } finally {
      // Accepted into a streaming round: moved into the round's folder already. Otherwise spent.
      this.spool.recycle(file);
    }
  }

  /** Applies the round's rules, in order, to a verified envelope (main thread, no await: no races). */
  private decide(siteId: string, row: UploadRow, outcome: VerifyOutcome, sealedFile: string): CommitResult {
    if (outcome.kind === 'rejected') return this.reject(siteId, row, outcome.code, outcome.message);
    const header = outcome.header;
    if (!this.repo.rememberNonce(header.experiment, header.round, header.nonce)) return this.reject(siteId, row, 'rejected_replay', 'envelope nonce was seen before (replay)');
    const active = this.rounds.activeRound(row.experiment_id);
    if (header.experiment !== row.experiment_id || header.round !== row.round || !active || active.round !== header.round || active.closing) {
      return this.reject(siteId, row, 'rejected_round', `envelope is for ${header.experiment} round ${header.round}, the open round is ${row.experiment_id} round ${active?.round ?? 'none'}`);
    }
    const expectedBase = active.base?.ref.sha256 ?? NO_BASE_MODEL;
    if (header.baseModelSha256 !== expectedBase) return this.reject(siteId, row, 'rejected_base_model', `update was trained from ${header.baseModelSha256.slice(0, 12)}, the round's base is ${expectedBase.slice(0, 12)}`);
    if (!Number.isSafeInteger(header.sampleCount) || header.sampleCount <= 0) return this.reject(siteId, row, 'rejected_envelope', 'sample count must be a positive integer');
    const result = this.repo.result(row.experiment_id, row.round, siteId);
    if (result?.status !== 'invited') return this.reject(siteId, row, 'rejected_duplicate', `site's result for this round is already ${result?.status ?? 'absent'}`);
    if (active.secagg) {
      // The payload is a masked vector: uniformly random to the coordinator, so shapes, finiteness and
      // norms cannot be checked here (clipRange bounds each site's influence instead).
      if (!outcome.masked) return this.reject(siteId, row, 'rejected_envelope', 'expected a masked vector');
      const refused = this.rounds.acceptMasked(active, siteId, outcome.masked, header.sampleCount, header.metrics);
      if (refused) return this.reject(siteId, row, 'rejected_shape', refused);
      return { accepted: true, experiment: row.experiment_id, round: row.round };
    }
    let verdict = outcome.verdict;
    const expected = this.rounds.expectedTensors(active);
    if (!verdict && (!outcome.manifest || !outcome.weights)) verdict = { code: 'rejected_envelope', message: 'expected model weights' };
    // Round 1 without a base: another update may have fixed the tensors while this one was verified.
    if (!verdict && expected && !sameTensors(outcome.manifest!.tensors, expected)) verdict = { code: 'rejected_shape', message: 'update tensors or shapes differ from the base model' };
    if (verdict) {
      this.rounds.markSite(active, siteId, 'rejected', verdict.message);
      return this.reject(siteId, row, verdict.code, verdict.message);
    }
    this.rounds.accept(active, siteId, outcome.manifest!, outcome.weights!, header.sampleCount, header.metrics, sealedFile);
    return { accepted: true, experiment: row.experiment_id, round: row.round };
  }

  private reject(siteId: string, row: UploadRow, code: ErrorCode, message: string): never {
    this.metrics.inc('fedct_updates_rejected_total', 1, { code });
    this.audit.record(`site:${siteId}`, 'update.rejected', { experiment: row.experiment_id, round: row.round, code, message });
    this.sessions.adminEmit('site', { siteId, siteName: this.sites.find(siteId)?.name ?? siteId, event: 'update_rejected', detail: `${code}: ${message}` });
    throw new CoordinatorError(message, code);
  }

  private load(id: string): OpenUpload | null {
    const cached = this.open.get(id);
    if (cached) return cached;
    const row = this.db.prepare<[string], UploadRow>('SELECT * FROM uploads WHERE id = ?').get(id);
    if (!row || !existsSync(this.file(id))) return null;
    const manifest = JSON.parse(row.manifest) as ChunkManifestMessage;
    const upload: OpenUpload = { row, manifest, received: this.chunksOnDisk(id, manifest), lastActivity: Date.now(), fd: null };
    this.open.set(id, upload);
    return upload;
  }

  /** Chunks of a spool file that already match the manifest (after a restart or an idle eviction). */
  private chunksOnDisk(id: string, manifest: ChunkManifestMessage): Set<number> {
    const received = new Set<number>();
    const fd = openSync(this.file(id), 'r');
    const buffer = Buffer.allocUnsafe(manifest.chunkSize);
    try {
      for (let i = 0; i < manifest.count; i++) {
        const length = Math.min(manifest.chunkSize, manifest.totalBytes - i * manifest.chunkSize);
        const n = readSync(fd, buffer, 0, length, i * manifest.chunkSize);
        if (n === length && createHash('sha256').update(buffer.subarray(0, length)).digest('hex') === manifest.chunkSha256[i]) received.add(i);
      }
    } finally {
      closeSync(fd);
    }
    return received;
  }

  private release(upload: OpenUpload): void {
    if (upload.fd !== null) closeSync(upload.fd);
    upload.fd = null;
  }

  private discard(id: string): void {
    const upload = this.open.get(id);
    if (upload) this.release(upload);
    this.open.delete(id);
    this.db.prepare('DELETE FROM uploads WHERE id = ?').run(id);
    this.spool.recycle(this.file(id));
  }

  private pruneIdle(): void {
    const now = Date.now();
    for (const [id, u] of this.open) {
      if (now - u.lastActivity > IDLE_UPLOAD_MS) {
        this.release(u);
        this.open.delete(id);
      }
    }
  }

  private file(id: string): string {
    return join(this.dir, `${id}.part`);
  }
}

function nextMissing(upload: OpenUpload): number | null {
  for (let i = 0; i < upload.manifest.count; i++) if (!upload.received.has(i)) return i;
  return null;
}

