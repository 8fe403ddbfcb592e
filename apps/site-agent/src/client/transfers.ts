import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, openSync, closeSync, readSync, writeSync, readFileSync, renameSync, rmSync, writeFileSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { ChunkAssembler, splitIntoChunks, type ChunkManifest } from '@fedct/crypto';
import { sha256Hex, type CommitResult, type ModelRef, type Reply } from '@fedct/protocol';
import { CoordinatorLinkError } from '../util/errors';
import type { Logger } from '../util/logger';
import { call, request, type SiteSocket } from './socket';

/** Where a model with this sha256 is kept once complete. */
export function modelFile(modelsDir: string, sha256: string): string {
  return join(modelsDir, `${sha256}.fctm`);
}

/** Reads a stored model and checks its hash; null when absent or corrupt. */
export function readStoredModel(modelsDir: string, sha256: string): Uint8Array | null {
  const file = modelFile(modelsDir, sha256);
  if (!existsSync(file)) return null;
  const bytes = new Uint8Array(readFileSync(file));
  return sha256Hex(bytes) === sha256 ? bytes : null;
}

/**
 * Downloads a model by chunks into `transfersDir/<sha>.part`, checking every chunk's hash against the
 * coordinator's manifest and the whole blob against `ref.sha256`. Resumable: chunks already in the
 * part file (from a connection that dropped, or an earlier run) are verified and not fetched again.
 * The finished blob goes to `modelsDir/<sha>.fctm`.
 */
export async function downloadModel(socket: SiteSocket, ref: ModelRef, dirs: { models: string; transfers: string }, logger: Logger): Promise<Uint8Array> {
  const stored = readStoredModel(dirs.models, ref.sha256);
  if (stored) return stored;
  mkdirSync(dirs.transfers, { recursive: true, mode: 0o700 });
  mkdirSync(dirs.models, { recursive: true, mode: 0o700 });
  const manifest: ChunkManifest = await call(socket, 'model.manifest', { sha256: ref.sha256 });
  if (manifest.sha256 !== ref.sha256) throw new CoordinatorLinkError(`model manifest is for ${manifest.sha256.slice(0, 12)}, task named ${ref.sha256.slice(0, 12)}`, 'bad_manifest');
  if (manifest.totalBytes !== ref.bytes) throw new CoordinatorLinkError(`model manifest says ${manifest.totalBytes} bytes, task said ${ref.bytes}`, 'bad_manifest');
  const assembler = new ChunkAssembler(manifest);
  const part = join(dirs.transfers, `${ref.sha256}.part`);
  const fd = openSync(part, existsSync(part) ? 'r+' : 'w+', 0o600);
  try {
    const size = fstatSync(fd).size;
    let resumed = 0;
    for (let i = 0; i < manifest.count; i++) {
      const start = i * manifest.chunkSize;
      const length = Math.min(manifest.chunkSize, manifest.totalBytes - start);
      if (start + length > size) break;
      const bytes = new Uint8Array(length);
      readSync(fd, bytes, 0, length, start);
      if (assembler.accept(i, bytes)) resumed += 1;
    }
    if (resumed > 0) logger.info('model download resumed', { sha256: ref.sha256.slice(0, 12), chunks: resumed, of: manifest.count });
    for (let index = assembler.nextMissing(); index !== null; index = assembler.nextMissing()) {
      const chunk = await call(socket, 'model.chunk', { sha256: ref.sha256, index });
      const bytes = new Uint8Array(chunk.bytes.buffer, chunk.bytes.byteOffset, chunk.bytes.byteLength);
      if (chunk.index !== index || !assembler.accept(index, bytes)) throw new CoordinatorLinkError(`model chunk ${index} failed its hash check`, 'bad_chunk');
      writeSync(fd, bytes, 0, bytes.length, index * manifest.chunkSize);
    }
  } finally {
    closeSync(fd);
  }
  const blob = assembler.result();
  const target = modelFile(dirs.models, ref.sha256);
  writeFileSync(`${target}.tmp`, blob, { mode: 0o600 });
  renameSync(`${target}.tmp`, target);
  rmSync(part, { force: true });
  return blob;
}

/**
 * Downloads a model into memory by chunks, checking each chunk against the manifest and the whole
 * blob against `sha256` as the chunks arrive (`assemble: false`: check only, keep nothing; what a
 * site that streams to disk spends). Throws a {@link CoordinatorLinkError} on a refusal or a bad hash.
 */
export async function fetchModel(socket: SiteSocket, sha256: string, options: { assemble?: boolean; timeoutMs?: number } = {}): Promise<Uint8Array | null> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const manifest = await call(socket, 'model.manifest', { sha256 }, timeoutMs);
  const out = options.assemble === false ? null : new Uint8Array(manifest.totalBytes);
  const whole = createHash('sha256');
  for (let i = 0; i < manifest.count; i++) {
    const chunk = await call(socket, 'model.chunk', { sha256, index: i }, timeoutMs);
    const bytes = chunk.bytes; // a Buffer from the socket: checked (and copied into `out`), no extra copy
    if (sha256Hex(bytes) !== manifest.chunkSha256[i]) throw new CoordinatorLinkError(`model chunk ${i} failed its hash check`, 'bad_chunk');
    whole.update(bytes);
    out?.set(bytes, i * manifest.chunkSize);
  }
  if (whole.digest('hex') !== sha256) throw new CoordinatorLinkError(`model ${sha256.slice(0, 12)} does not match its sha256`, 'bad_model');
  return out;
}

/** A sealed update cut into chunks with its manifest, ready to send ({@link sendUpdate}). */
export type PreparedUpload = ReturnType<typeof splitIntoChunks>;

/**
 * Sends a sealed update: `update.begin` (which says where to resume), `update.chunk` from there on,
 * `update.commit`; resolves with the coordinator's reply to the first refusal or to the commit. After
 * `stopAfterChunks` chunks it stops and resolves null (a dropped connection, in tests); calling it
 * again with the same bytes resumes.
 */
export async function sendUpdate(
  socket: SiteSocket,
  upload: { experiment: string; round: number },
  sealed: Uint8Array | PreparedUpload,
  options: { chunkSize?: number; stopAfterChunks?: number; onChunk?: (index: number, count: number) => void; onChunksDone?: () => void; timeoutMs?: number } = {},
): Promise<{ reply: Reply<CommitResult>; bytesSent: number; resumedAt: number } | null> {
  const { manifest, chunks } = sealed instanceof Uint8Array ? splitIntoChunks(sealed, options.chunkSize ?? 512 * 1024) : sealed;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const begin = await request(socket, 'update.begin', { experiment: upload.experiment, round: upload.round, manifest }, timeoutMs);
  if (!begin.ok) return { reply: begin, bytesSent: 0, resumedAt: 0 };
  const resumedAt = begin.data.nextIndex ?? manifest.count;
  let next = begin.data.nextIndex;
  let sent = 0;
  let bytesSent = 0;
  while (next !== null) {
    if (options.stopAfterChunks !== undefined && sent >= options.stopAfterChunks) return null;
    const bytes = chunks[next];
    if (!bytes) throw new CoordinatorLinkError(`coordinator asked for chunk ${next} of ${manifest.count}`, 'bad_chunk');
    const reply = await request(socket, 'update.chunk', { uploadId: begin.data.uploadId, index: next, bytes }, timeoutMs);
    if (!reply.ok) return { reply, bytesSent, resumedAt };
    options.onChunk?.(next, manifest.count);
    bytesSent += bytes.length;
    next = reply.data.nextIndex;
    sent++;
  }
  options.onChunksDone?.();
  return { reply: await request(socket, 'update.commit', { uploadId: begin.data.uploadId }, Math.max(timeoutMs, 30_000)), bytesSent, resumedAt };
}

/** A sealed update waiting to be uploaded, kept on disk so that a restart can resume it. */
export interface PendingUpload {
  experiment: string;
  round: number;
  file: string;
}

/** Saves a sealed envelope for `experiment/round`; returns where. */
export function savePendingUpload(transfersDir: string, experiment: string, round: number, sealed: Uint8Array): PendingUpload {
  mkdirSync(transfersDir, { recursive: true, mode: 0o700 });
  const file = pendingUploadFile(transfersDir, experiment, round);
  writeFileSync(`${file}.tmp`, sealed, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return { experiment, round, file };
}

export function pendingUploadFile(transfersDir: string, experiment: string, round: number): string {
  return join(transfersDir, `update-${experiment.replace(/[^A-Za-z0-9_-]/g, '_')}-r${round}.sealed`);
}

/**
 * Uploads a sealed envelope in chunks ({@link sendUpdate}) and throws a {@link CoordinatorLinkError}
 * with the coordinator's code when it refuses; calling it again after a dropped connection sends only
 * the chunks the coordinator does not hold yet. Returns the chunk bytes sent by this call.
 */
export async function uploadUpdate(
  socket: SiteSocket,
  upload: { experiment: string; round: number; sealed: Uint8Array; chunkSize: number },
  logger: Logger,
  onChunk?: (index: number, count: number) => void,
): Promise<{ bytesSent: number; resumedAt: number }> {
  if (!socket.connected) throw new CoordinatorLinkError('not connected to the coordinator (update.begin)', 'disconnected');
  const sent = await sendUpdate(socket, upload, upload.sealed, { chunkSize: upload.chunkSize, ...(onChunk ? { onChunk } : {}) });
  if (!sent) throw new CoordinatorLinkError('upload stopped', 'disconnected');
  if (!sent.reply.ok) {
    const { code, message } = sent.reply;
    throw new CoordinatorLinkError(code === 'timeout' || code === 'disconnected' ? message : `coordinator refused the update: ${message}`, code);
  }
  if (sent.resumedAt > 0) logger.info('update upload resumed', { experiment: upload.experiment, round: upload.round, chunk: sent.resumedAt });
  return { bytesSent: sent.bytesSent, resumedAt: sent.resumedAt };
}
