import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SiteAgentError } from '../util/errors';

/** The JSON header beside each cached volume. */
export interface VolumeHeader {
  format: 'fedct-volume/1';
  dtype: 'float32';
  byteOrder: 'little-endian';
  shape: number[];
  spacingMm: number[];
  sha256: string;
}

/** A cached volume: the floats and their header. */
export interface CachedVolume {
  header: VolumeHeader;
  data: Float32Array;
}

/** sha256 (hex) of a Float32Array's little-endian bytes. */
export function floatSha256(data: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex');
}

/**
 * Content-addressed files of Float32 volumes: `<sha256>.f32` (raw little-endian floats) and
 * `<sha256>.json` (shape, spacing). Writes are atomic (temp file + rename), so an interrupted import
 * never leaves a half volume under a real name.
 */
export class VolumeCache {
  constructor(readonly dir: string) {}

  /** Stores a volume; returns its sha256. Storing the same floats twice is a no-op. */
  put(data: Float32Array, shape: readonly number[], spacingMm: readonly number[]): string {
    const expected = shape.reduce((a, b) => a * b, 1);
    if (expected !== data.length) throw new SiteAgentError(`volume of shape ${shape.join('x')} needs ${expected} floats, got ${data.length}`, 'bad_volume');
    const sha = floatSha256(data);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = join(this.dir, `${sha}.f32`);
    if (!existsSync(file)) {
      const header: VolumeHeader = { format: 'fedct-volume/1', dtype: 'float32', byteOrder: 'little-endian', shape: [...shape], spacingMm: [...spacingMm], sha256: sha };
      writeAtomic(join(this.dir, `${sha}.json`), Buffer.from(JSON.stringify(header)));
      writeAtomic(file, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    }
    return sha;
  }

  has(sha: string): boolean {
    return existsSync(join(this.dir, `${sha}.f32`)) && existsSync(join(this.dir, `${sha}.json`));
  }

  /** Reads a volume back and checks its hash; throws when missing or corrupt. */
  get(sha: string): CachedVolume {
    let header: VolumeHeader;
    let bytes: Buffer;
    try {
      header = JSON.parse(readFileSync(join(this.dir, `${sha}.json`), 'utf8')) as VolumeHeader;
      bytes = readFileSync(join(this.dir, `${sha}.f32`));
    } catch (cause) {
      throw new SiteAgentError(`cached volume ${sha.slice(0, 12)} is missing from ${this.dir}: re-run the import`, 'cache_missing', { cause });
    }
    const data = new Float32Array(bytes.length / 4);
    new Uint8Array(data.buffer).set(bytes);
    if (floatSha256(data) !== sha) throw new SiteAgentError(`cached volume ${sha.slice(0, 12)} is corrupt: delete it and re-run the import`, 'cache_corrupt');
    return { header, data };
  }
}

function writeAtomic(file: string, bytes: Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes, { mode: 0o600 });
  renameSync(tmp, file);
}
