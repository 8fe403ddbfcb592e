import { createHash, webcrypto } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Identity } from '@fedct/crypto';
import type { ChunkManifestMessage, CommitResult, UpdateBegin, UpdateChunk, UploadState } from '@fedct/protocol';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../core/coordinator.config';
import { STORAGE } from '../core/core.tokens';
import { CoordinatorError } from '../core/errors';
import { COORDINATOR_IDENTITY } from '../core/identity';
import { MetricsService } from '../core/metrics.service';
import type { FileStorage, StoredFile } from '../core/storage';
import { SitesService } from '../sites/sites.service';
import { RoundEvents } from './round-events';
import { RoundsService } from './rounds.service';
import { SpoolPool } from './spool-pool';
import { UploadsRepository, type UploadRow } from './uploads.repository';
import { VerifierPool } from './verifier.pool';

interface OpenUpload {
  row: UploadRow;
  manifest: ChunkManifestMessage;
  received: Set<number>;
  lastActivity: number;
  file: StoredFile | null;
}

/** Room in a verification result buffer for the model blob's header and manifest, beyond its weights. */
const RESULT_SLACK_BYTES = 1024 * 1024;

/** An upload that saw no chunk for this long no longer counts against `maxConcurrentUploads`. */
const IDLE_UPLOAD_MS = 60_000;

/**
 * The update transport: chunks are verified against the upload's manifest and written straight into a
 * spool file (`uploads/<id>.part`, preallocated), so memory stays O(chunk) per upload; which chunks are
 * there is kept in memory and, after a coordinator restart, recovered by hashing the spool file
 * against the manifest, so an upload resumes after a disconnect or a restart. `commit` has the whole
 * envelope opened and checked on a verification worker and hands the outcome to the round
 * ({@link RoundsService.submit}), which applies every rule. What it needs of the round it reads from
 * the round's admission view; it drops a round's unfinished uploads when the round ends.
 */
@Injectable()
export class UploadsService {
  private readonly open = new Map<string, OpenUpload>();
  /** Bytes of sealed updates begun per open round (limit `maxRoundBytes`). */
  private readonly roundBytes = new Map<string, number>();

  constructor(
    @Inject(COORDINATOR_CONFIG) private readonly config: CoordinatorConfig,
    @Inject(STORAGE) private readonly storage: FileStorage,
    @Inject(UploadsRepository) private readonly repo: UploadsRepository,
    @Inject(RoundsService) private readonly rounds: RoundsService,
    @Inject(RoundEvents) events: RoundEvents,
    @Inject(SitesService) private readonly sites: SitesService,
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(COORDINATOR_IDENTITY) private readonly identity: Identity,
    @Inject(VerifierPool) private readonly verifier: VerifierPool,
    @Inject(SpoolPool) private readonly spool: SpoolPool,
  ) {
    this.storage.ensureDir(this.storage.path('uploads'));
    events.onEnded(({ experimentId, round }) => this.discardRound(experimentId, round));
  }

  /** Drops the unfinished uploads of a round that ended (their spool files and rows). */
  discardRound(experimentId: string, round: number): void {
    this.roundBytes.delete(`${experimentId}/${round}`);
    for (const id of this.repo.idsOfRound(experimentId, round)) this.discard(id);
  }

  /** Starts or resumes an upload; `nextIndex` is the first chunk the coordinator lacks. */
  begin(siteId: string, request: UpdateBegin): UploadState {
    const round = this.rounds.admission(request.experiment);
    if (!round || round.round !== request.round || !round.accepting) {
      throw new CoordinatorError(`round ${request.round} of ${request.experiment} is not accepting updates`, 'round_closed');
    }
    const status = round.status(siteId);
    if (!status) throw new CoordinatorError(`this site is not a participant of round ${request.round}`, 'no_task');
    if (status !== 'invited') throw new CoordinatorError(`this site's update for round ${request.round} is already ${status}`, 'rejected_duplicate');
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
      const key = `${request.experiment}/${request.round}`;
      const bytes = this.roundBytes.get(key) ?? 0;
      if (bytes + m.totalBytes > this.config.limits.maxRoundBytes) throw new CoordinatorError('this round has received its byte limit', 'too_large');
      this.roundBytes.set(key, bytes + m.totalBytes);
      const row: UploadRow = { id, site_id: siteId, experiment_id: request.experiment, round: request.round, manifest: JSON.stringify(m) };
      this.repo.insert(row, new Date().toISOString());
      // A new (or recycled) spool file counts no chunk yet: no need to hash it against the manifest
      // (load() does that only for a file found on disk, after a restart or an idle eviction).
      upload = { row, manifest: m, received: new Set(), lastActivity: Date.now(), file: this.spool.create(this.fileOf(id), m.totalBytes) };
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
    // (its file closed): never write through a descriptor that is no longer this upload's.
    if (this.open.get(request.uploadId) !== upload) throw new CoordinatorError(`no upload ${request.uploadId}`, 'not_found');
    if (!upload.received.has(request.index)) {
      upload.file ??= this.storage.open(this.fileOf(upload.row.id), 'r+');
      upload.file.writeAt(request.bytes, request.index * m.chunkSize);
      upload.received.add(request.index);
      this.metrics.inc('fedct_bytes_in_total', request.bytes.length);
    }
    upload.lastActivity = Date.now();
    return { uploadId: upload.row.id, nextIndex: nextMissing(upload) };
  }

  /**
   * Has the assembled envelope opened and checked on a verification worker, then hands the outcome to
   * the round, which accepts (folds) it or refuses it with a `rejected_*` error.
   */
  async commit(siteId: string, uploadId: string): Promise<CommitResult> {
    const upload = this.load(uploadId);
    if (!upload || upload.row.site_id !== siteId) throw new CoordinatorError(`no upload ${uploadId}`, 'not_found');
    const missing = nextMissing(upload);
    if (missing !== null) throw new CoordinatorError(`chunk ${missing} is still missing`, 'incomplete');
    this.release(upload);
    // Every chunk was checked against the manifest and the envelope signature covers every byte, so
    // the whole file is not hashed again here; a version 2 envelope's signature is verified from those
    // same chunk hashes (verifiedChunks), so the file is not hashed a second time for it either.
    const file = this.fileOf(uploadId);
    const row = upload.row;
    this.repo.delete(uploadId);
    this.open.delete(uploadId);
    const context = { experimentId: row.experiment_id, round: row.round, file };
    try {
      const site = this.sites.find(siteId);
      if (!site || site.revokedAt) return this.rounds.submit(siteId, context, { kind: 'rejected', code: 'rejected_site', message: 'site is not enrolled or revoked' });
      const round = this.rounds.admission(row.experiment_id);
      const base = round?.base ?? null;
      const lease = await this.verifier.run(
        {
          file,
          verifiedChunks: { chunkSize: upload.manifest.chunkSize, chunkSha256: upload.manifest.chunkSha256 },
          siteId,
          signingPublicKey: site.signingPublicKey,
          boxSecretKey: this.identity.box.secretKey,
          secure: round?.secure ?? false,
          tensors: round?.tensors ?? null,
          base,
          normBound: round?.normBound ?? null,
        },
        // Room for the base model's blob (its weights plus a manifest): decrypted into a shared buffer.
        base ? base.byteLength + RESULT_SLACK_BYTES : null,
      );
      try {
        return this.rounds.submit(siteId, context, lease.outcome);
      } finally {
        // submit() folds or spools the weights synchronously: the shared buffer is free again.
        lease.release();
      }
    } finally {
      // Kept by a streaming round: moved into the round's folder already. Otherwise spent.
      this.spool.recycle(file);
    }
  }

  private load(id: string): OpenUpload | null {
    const cached = this.open.get(id);
    if (cached) return cached;
    const row = this.repo.find(id);
    if (!row || !this.storage.exists(this.fileOf(id))) return null;
    const manifest = JSON.parse(row.manifest) as ChunkManifestMessage;
    const upload: OpenUpload = { row, manifest, received: this.chunksOnDisk(id, manifest), lastActivity: Date.now(), file: null };
    this.open.set(id, upload);
    return upload;
  }

  /** Chunks of a spool file that already match the manifest (after a restart or an idle eviction). */
  private chunksOnDisk(id: string, manifest: ChunkManifestMessage): Set<number> {
    const received = new Set<number>();
    const file = this.storage.open(this.fileOf(id), 'r');
    const buffer = Buffer.allocUnsafe(manifest.chunkSize);
    try {
      for (let i = 0; i < manifest.count; i++) {
        const length = Math.min(manifest.chunkSize, manifest.totalBytes - i * manifest.chunkSize);
        const n = file.readAt(buffer.subarray(0, length), i * manifest.chunkSize);
        if (n === length && createHash('sha256').update(buffer.subarray(0, length)).digest('hex') === manifest.chunkSha256[i]) received.add(i);
      }
    } finally {
      file.close();
    }
    return received;
  }

  private release(upload: OpenUpload): void {
    upload.file?.close();
    upload.file = null;
  }

  private discard(id: string): void {
    const upload = this.open.get(id);
    if (upload) this.release(upload);
    this.open.delete(id);
    this.repo.delete(id);
    this.spool.recycle(this.fileOf(id));
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

  private fileOf(id: string): string {
    return this.storage.path('uploads', `${id}.part`);
  }
}

function nextMissing(upload: OpenUpload): number | null {
  for (let i = 0; i < upload.manifest.count; i++) if (!upload.received.has(i)) return i;
  return null;
}
