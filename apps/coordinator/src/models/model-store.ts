import { createHash } from 'node:crypto';
import { sha256Hex, type ChunkManifestMessage } from '@fedct/protocol';
import type { FileStorage } from '../core/storage';

/**
 * Model blobs as content-addressed files: `models/<sha256[0..2]>/<sha256>.fctm`. A file is written to
 * a temporary name, fsynced and renamed, so a crash never leaves a half-written blob under its name.
 */
export class ModelStore {
  private readonly manifests = new Map<string, ChunkManifestMessage>();
  /** The blobs sites are downloading now, most recent last (at most {@link ModelStore.cachedBlobs}). */
  private readonly recent = new Map<string, Uint8Array>();
  /** How many whole blobs {@link ModelStore.readChunk} keeps in memory (a round's base, the previous one). */
  static readonly cachedBlobs = 2;
  /** Larger blobs are not kept in memory: their chunks are read from the file one by one. */
  static readonly maxCachedBlobBytes = 256 * 1024 * 1024;

  constructor(private readonly storage: FileStorage) {
    storage.ensureDir(storage.path('models'));
  }

  pathOf(sha256: string): string {
    return this.storage.path('models', sha256.slice(0, 2), `${sha256}.fctm`);
  }

  has(sha256: string): boolean {
    return this.storage.exists(this.pathOf(sha256));
  }

  /** Stores `bytes` (idempotent) and returns their sha256. */
  put(bytes: Uint8Array): string {
    const sha = sha256Hex(bytes);
    const target = this.pathOf(sha);
    if (this.storage.exists(target)) return sha;
    this.storage.writeAtomic(target, bytes, { fsync: true, mode: 0o644 });
    return sha;
  }

  read(sha256: string): Uint8Array {
    return this.storage.read(this.pathOf(sha256));
  }

  size(sha256: string): number {
    return this.storage.size(this.pathOf(sha256));
  }

  /** The chunk manifest of a stored blob (same format as @fedct/crypto `splitIntoChunks`); cached. */
  chunkManifest(sha256: string, chunkSize: number): ChunkManifestMessage {
    const key = `${sha256}:${chunkSize}`;
    const cached = this.manifests.get(key);
    if (cached) return cached;
    const bytes = this.read(sha256);
    const count = Math.ceil(bytes.length / chunkSize);
    const chunkSha256: string[] = [];
    for (let i = 0; i < count; i++) chunkSha256.push(createHash('sha256').update(bytes.subarray(i * chunkSize, Math.min(bytes.length, (i + 1) * chunkSize))).digest('hex'));
    const manifest = { totalBytes: bytes.length, chunkSize, count, sha256, chunkSha256 };
    if (this.manifests.size > 64) this.manifests.clear();
    this.manifests.set(key, manifest);
    return manifest;
  }

  /**
   * Bytes of chunk `index`: a read-only view into the blob, which is read once and kept while sites
   * download it (the {@link ModelStore.cachedBlobs} most recently used blobs up to
   * {@link ModelStore.maxCachedBlobBytes} each; blobs never change), so a hundred sites fetching a
   * round's base model cost one file read and no per-chunk copies.
   */
  readChunk(sha256: string, index: number, chunkSize: number): Uint8Array {
    let blob = this.recent.get(sha256);
    if (blob) {
      this.recent.delete(sha256);
    } else {
      if (this.size(sha256) > ModelStore.maxCachedBlobBytes) return this.readChunkFromFile(sha256, index, chunkSize);
      blob = this.read(sha256);
      while (this.recent.size >= ModelStore.cachedBlobs) this.recent.delete(this.recent.keys().next().value!);
    }
    this.recent.set(sha256, blob);
    const start = Math.min(blob.length, index * chunkSize);
    return blob.subarray(start, Math.min(blob.length, start + chunkSize));
  }

  private readChunkFromFile(sha256: string, index: number, chunkSize: number): Uint8Array {
    const total = this.size(sha256);
    const start = Math.min(total, index * chunkSize);
    const out = new Uint8Array(Math.min(chunkSize, total - start));
    this.storage.readAt(this.pathOf(sha256), start, out);
    return out;
  }
}
