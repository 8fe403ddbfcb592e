import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Every file the coordinator keeps, under its data folder: model blobs (`models/`), round folders
 * (`rounds/`), strategy state (`strategy/`), upload spool files (`uploads/`). The one module that
 * touches the file system for them, so that another store (a shared folder for several instances,
 * docs/ARCHITECTURE.md) replaces one class. Paths are absolute; {@link FileStorage.path} builds them.
 */
export class FileStorage {
  constructor(readonly root: string) {
    mkdirSync(root, { recursive: true });
  }

  /** `root/part/part/...`. */
  path(...parts: string[]): string {
    return join(this.root, ...parts);
  }

  exists(path: string): boolean {
    return existsSync(path);
  }

  ensureDir(path: string): void {
    mkdirSync(path, { recursive: true });
  }

  read(path: string): Uint8Array {
    const bytes = readFileSync(path);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** `target.length` bytes from `offset` (fewer at the end of the file); returns how many. */
  readAt(path: string, offset: number, target: Uint8Array): number {
    const file = this.open(path, 'r');
    try {
      return file.readAt(target, offset);
    } finally {
      file.close();
    }
  }

  size(path: string): number {
    return statSync(path).size;
  }

  /**
   * Writes `bytes` to a temporary name beside `path`, then renames it: a crash never leaves half a
   * file under the real name. `fsync`: on disk before the rename (published models).
   */
  writeAtomic(path: string, bytes: Uint8Array, options: { fsync?: boolean; mode?: number } = {}): void {
    mkdirSync(dirname(path), { recursive: true });
    const temp = `${path}.${process.pid}.tmp`;
    const fd = openSync(temp, 'w', options.mode ?? 0o644);
    try {
      writeAll(fd, bytes, 0);
      if (options.fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  }

  /** Writes `parts` one after another into a new file, atomically (see {@link writeAtomic}). */
  writeAtomicParts(path: string, parts: readonly Uint8Array[]): void {
    mkdirSync(dirname(path), { recursive: true });
    const temp = `${path}.${process.pid}.tmp`;
    const fd = openSync(temp, 'w', 0o644);
    try {
      let offset = 0;
      for (const part of parts) offset += writeAll(fd, part, offset);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  }

  move(from: string, to: string): void {
    renameSync(from, to);
  }

  /** Removes a file or a folder with everything in it; absent paths are fine. */
  remove(path: string): void {
    rmSync(path, { recursive: true, force: true });
  }

  list(dir: string): string[] {
    return existsSync(dir) ? readdirSync(dir) : [];
  }

  /** Opens a file for positional reads and writes (`w+` creates or truncates it). */
  open(path: string, mode: 'r' | 'r+' | 'w+'): StoredFile {
    return new StoredFile(openSync(path, mode));
  }
}

/** An open file: positional reads and writes. */
export class StoredFile {
  constructor(private fd: number | null) {}

  writeAt(bytes: Uint8Array, position: number): void {
    writeAll(this.descriptor(), bytes, position);
  }

  /** Fills `target` from `position` as far as the file goes; returns the bytes read. */
  readAt(target: Uint8Array, position: number): number {
    return readAll(this.descriptor(), target, position);
  }

  truncate(size: number): void {
    ftruncateSync(this.descriptor(), size);
  }

  size(): number {
    return fstatSync(this.descriptor()).size;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private descriptor(): number {
    if (this.fd === null) throw new Error('file is closed');
    return this.fd;
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): number {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
  return done;
}

function readAll(fd: number, target: Uint8Array, position: number): number {
  let done = 0;
  while (done < target.length) {
    const n = readSync(fd, target, done, target.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * A whole file into a buffer that is reused between calls on the same thread (grown when needed):
 * the verification workers read every 20 MB update this way, and a fresh buffer per update made the
 * garbage collector run a full mark-compact every few updates. The view is valid until the next call.
 */
export function readWholeReusing(path: string, state: { buffer: Buffer | null }): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (!state.buffer || state.buffer.length < size) state.buffer = Buffer.allocUnsafeSlow(Math.max(size, Math.ceil((state.buffer?.length ?? 0) * 1.25)));
    const done = readAll(fd, state.buffer.subarray(0, size), 0);
    return new Uint8Array(state.buffer.buffer, state.buffer.byteOffset, done);
  } finally {
    closeSync(fd);
  }
}
