import { existsSync, mkdirSync, openSync, closeSync, readSync, writeSync, readFileSync, renameSync, rmSync, writeFileSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { ChunkAssembler, splitIntoChunks, type ChunkManifest } from '@fedct/crypto';
import { sha256Hex, type ModelRef } from '@fedct/protocol';
import { CoordinatorError } from '../util/errors';
import type { Logger } from '../util/logger';
import { call, type SiteSocket } from './coordinator-client';

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
  if (manifest.sha256 !== ref.sha256) throw new CoordinatorError(`model manifest is for ${manifest.sha256.slice(0, 12)}, task named ${ref.sha256.slice(0, 12)}`, 'bad_manifest');
  if (manifest.totalBytes !== ref.bytes) throw new CoordinatorError(`model manifest says ${manifest.totalBytes} bytes, task said ${ref.bytes}`, 'bad_manifest');
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
      if (chunk.index !== index || !assembler.accept(index, bytes)) throw new CoordinatorError(`model chunk ${index} failed its hash check`, 'bad_chunk');
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
 * Uploads a sealed envelope in chunks: `update.begin` (which tells where to resume), `update.chunk`
 * from there on, then `update.commit`. Calling it again after a dropped connection sends only the
 * chunks the coordinator does not hold yet. Returns the number of chunk bytes sent by this call.
 */
export async function uploadUpdate(
  socket: SiteSocket,
  upload: { experiment: string; round: number; sealed: Uint8Array; chunkSize: number },
  logger: Logger,
  onChunk?: (index: number, count: number) => void,
): Promise<{ bytesSent: number; resumedAt: number }> {
  const { manifest, chunks } = splitIntoChunks(upload.sealed, upload.chunkSize);
  let state = await call(socket, 'update.begin', { experiment: upload.experiment, round: upload.round, manifest });
  const resumedAt = state.nextIndex ?? manifest.count;
  if (resumedAt > 0) logger.info('update upload resumed', { experiment: upload.experiment, round: upload.round, chunk: resumedAt, of: manifest.count });
  let bytesSent = 0;
  while (state.nextIndex !== null) {
    const index = state.nextIndex;
    const bytes = chunks[index];
    if (!bytes) throw new CoordinatorError(`coordinator asked for chunk ${index} of ${manifest.count}`, 'bad_chunk');
    state = await call(socket, 'update.chunk', { uploadId: state.uploadId, index, bytes: new Uint8Array(bytes) });
    bytesSent += bytes.length;
    onChunk?.(index, manifest.count);
  }
  await call(socket, 'update.commit', { uploadId: state.uploadId });
  return { bytesSent, resumedAt };
}
