import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { sha256Hex, type ChunkManifestMessage } from '@fedct/protocol';

/**
 * Model blobs as content-addressed files: `models/<sha256[0..2]>/<sha256>.fctm`. A file is written to
 * a temporary name, fsynced and renamed, so a crash never leaves a half-written blob under its name.
 */
export class ModelStore {
  private readonly manifests = new Map<string, ChunkManifestMessage>();

  constructor(private readonly root: string) {
    mkdirSync(root, { recursive: true });
  }

  pathOf(sha256: string): string {
    return join(this.root, sha256.slice(0, 2), `${sha256}.fctm`);
  }

  has(sha256: string): boolean {
    return existsSync(this.pathOf(sha256));
  }

  /** Stores `bytes` (idempotent) and returns their sha256. */
  put(bytes: Uint8Array): string {
    const sha = sha256Hex(bytes);
    const target = this.pathOf(sha);
    if (existsSync(target)) return sha;
    mkdirSync(join(this.root, sha.slice(0, 2)), { recursive: true });
    const temp = `${target}.${process.pid}.tmp`;
    const fd = openSync(temp, 'w', 0o644);
    try {
      let offset = 0;
      while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
    return sha;
  }

  read(sha256: string): Uint8Array {
    return new Uint8Array(readFileSync(this.pathOf(sha256)));
  }

  size(sha256: string): number {
    return statSync(this.pathOf(sha256)).size;
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

  /** Bytes of chunk `index`, read from the file (the blob is not held in memory). */
  readChunk(sha256: string, index: number, chunkSize: number): Uint8Array {
    const total = this.size(sha256);
    const start = index * chunkSize;
    const length = Math.max(0, Math.min(chunkSize, total - start));
    const out = new Uint8Array(length);
    const fd = openSync(this.pathOf(sha256), 'r');
    try {
      let read = 0;
      while (read < length) {
        const n = readSync(fd, out, read, length - read, start + read);
        if (n === 0) break;
        read += n;
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }
}
