import { createHash } from 'node:crypto';
import { ChunkError } from './errors';

/** Describes a payload cut into chunks: sent first, so the receiver can check every chunk it gets. */
export interface ChunkManifest {
  totalBytes: number;
  chunkSize: number;
  count: number;
  /** Lower-case hex SHA-256 of the whole payload. */
  sha256: string;
  /** Lower-case hex SHA-256 of each chunk, in order. */
  chunkSha256: string[];
}

/** Default chunk size: 512 KiB, well under socket.io's default 1 MB message limit. */
export const DEFAULT_CHUNK_SIZE = 512 * 1024;
/** Largest payload a {@link ChunkAssembler} accepts unless told otherwise: 2 GiB. */
export const DEFAULT_MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024;

function hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Cuts `payload` into chunks of `chunkSize` bytes (the last may be shorter; an empty payload has no
 * chunks). The chunks are views into `payload`, not copies.
 */
export function splitIntoChunks(payload: Uint8Array, chunkSize = DEFAULT_CHUNK_SIZE): { manifest: ChunkManifest; chunks: Uint8Array[] } {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new ChunkError(`splitIntoChunks: chunkSize must be a positive integer, got ${chunkSize}`);
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < payload.length; offset += chunkSize) {
    chunks.push(payload.subarray(offset, Math.min(payload.length, offset + chunkSize)));
  }
  return {
    manifest: { totalBytes: payload.length, chunkSize, count: chunks.length, sha256: hex(payload), chunkSha256: chunks.map(hex) },
    chunks,
  };
}

/** Returns why `manifest` is inconsistent, or `null` if it is well-formed. */
export function validateManifest(manifest: ChunkManifest, maxTotalBytes = DEFAULT_MAX_TOTAL_BYTES): string | null {
  const { totalBytes, chunkSize, count, sha256, chunkSha256 } = manifest;
  if (!Number.isSafeInteger(totalBytes) || totalBytes < 0) return 'totalBytes must be a non-negative integer';
  if (totalBytes > maxTotalBytes) return `totalBytes ${totalBytes} exceeds the limit of ${maxTotalBytes}`;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) return 'chunkSize must be a positive integer';
  if (count !== Math.ceil(totalBytes / chunkSize)) return `count must be ${Math.ceil(totalBytes / chunkSize)}, got ${count}`;
  const isHash = (h: unknown) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h);
  if (!isHash(sha256)) return 'sha256 must be 64 lower-case hex digits';
  if (!Array.isArray(chunkSha256) || chunkSha256.length !== count || !chunkSha256.every(isHash)) {
    return 'chunkSha256 must hold one 64-digit hex hash per chunk';
  }
  return null;
}

/**
 * Reassembles a chunked payload, checking each chunk's hash as it arrives and the whole payload's
 * hash at the end. Chunks may arrive in any order and more than once; after an interruption the
 * sender resumes from {@link ChunkAssembler.nextMissing}.
 */
export class ChunkAssembler {
  private readonly buffer: Uint8Array;
  private readonly have: Uint8Array;
  private received = 0;
  private cursor = 0;

  /** Throws {@link ChunkError} if the manifest is inconsistent or larger than `maxTotalBytes`. */
  constructor(
    readonly manifest: ChunkManifest,
    maxTotalBytes = DEFAULT_MAX_TOTAL_BYTES,
  ) {
    const problem = validateManifest(manifest, maxTotalBytes);
    if (problem) throw new ChunkError(`Invalid chunk manifest: ${problem}`);
    this.buffer = new Uint8Array(manifest.totalBytes);
    this.have = new Uint8Array(manifest.count);
  }

  /**
   * Stores chunk `index` if its length and hash match the manifest. Returns false (and stores
   * nothing) for an index out of range or bytes that do not match; true for a good chunk, including
   * a repeat of one already stored.
   */
  accept(index: number, bytes: Uint8Array): boolean {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.manifest.count) return false;
    const start = index * this.manifest.chunkSize;
    const expectedLength = Math.min(this.manifest.chunkSize, this.manifest.totalBytes - start);
    if (bytes.length !== expectedLength || hex(bytes) !== this.manifest.chunkSha256[index]) return false;
    if (this.have[index] === 0) {
      this.buffer.set(bytes, start);
      this.have[index] = 1;
      this.received++;
    }
    return true;
  }

  /** The lowest chunk index not yet received, or `null` when all are in. */
  nextMissing(): number | null {
    while (this.cursor < this.manifest.count && this.have[this.cursor] === 1) this.cursor++;
    return this.cursor < this.manifest.count ? this.cursor : null;
  }

  /** Number of chunks received so far. */
  receivedCount(): number {
    return this.received;
  }

  /** True when every chunk has been received. */
  isComplete(): boolean {
    return this.received === this.manifest.count;
  }

  /**
   * The reassembled payload. Throws {@link ChunkError} if chunks are missing or the whole payload's
   * hash does not match the manifest (which per-chunk checks make possible only for a forged manifest).
   */
  result(): Uint8Array {
    if (!this.isComplete()) {
      throw new ChunkError(`Transfer incomplete: ${this.received} of ${this.manifest.count} chunks received`);
    }
    if (hex(this.buffer) !== this.manifest.sha256) throw new ChunkError('Reassembled payload does not match the manifest hash');
    return this.buffer;
  }
}
