import { Inject, Injectable } from '@nestjs/common';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../core/coordinator.config';
import { STORAGE } from '../core/core.tokens';
import type { FileStorage, StoredFile } from '../core/storage';

/**
 * Recycled spool files. Every update is written into a spool file (`uploads/<id>.part`) and, once
 * accepted, kept in its round's folder until the next checkpoint. Creating a 20 MB file for every update
 * and deleting it later makes the kernel allocate, fill and free 20 MB of page cache (and ext4 reserve
 * blocks) each time; overwriting a recycled file reuses its pages and blocks (alone on this machine:
 * 1.2-1.6 ms instead of 3.5 ms per 20 MB; docs/BENCHMARKS.md "Coordinator", run 8). Spent files are
 * moved into `uploads/recycled/` instead of being deleted, and new spool files are taken from there.
 *
 * A recycled file holds an old envelope's bytes until they are overwritten: nothing reads them, since
 * an upload counts only the chunks it received (or, after a restart, the chunks whose hashes match its
 * own manifest). At most `maxFiles` are kept; the folder is emptied when the coordinator starts.
 */
@Injectable()
export class SpoolPool {
  private readonly dir: string;
  private readonly free: string[] = [];
  private counter = 0;
  readonly maxFiles: number;

  constructor(
    @Inject(COORDINATOR_CONFIG) config: CoordinatorConfig,
    @Inject(STORAGE) private readonly storage: FileStorage,
  ) {
    this.dir = storage.path('uploads', 'recycled');
    // Every upload in flight plus the envelopes a streaming round keeps between checkpoints.
    this.maxFiles = config.limits.maxConcurrentUploads + config.roundCheckpointEvery;
    for (const name of storage.list(this.dir)) storage.remove(`${this.dir}/${name}`);
    storage.ensureDir(this.dir);
  }

  /** Recycled files waiting to be reused. */
  get size(): number {
    return this.free.length;
  }

  /**
   * Creates the spool file `path` of `bytes` bytes (from a recycled file when there is one), open for
   * reading and writing.
   */
  create(path: string, bytes: number): StoredFile {
    const recycled = this.free.pop();
    let file: StoredFile;
    if (recycled) {
      this.storage.move(recycled, path);
      file = this.storage.open(path, 'r+');
    } else {
      file = this.storage.open(path, 'w+');
    }
    file.truncate(bytes);
    return file;
  }

  /** Takes a spent spool file (closed) for reuse, or deletes it when the pool is full; absent files are ignored. */
  recycle(path: string): void {
    if (!this.storage.exists(path)) return;
    if (this.free.length >= this.maxFiles) {
      this.storage.remove(path);
      return;
    }
    const target = `${this.dir}/${process.pid}-${this.counter++}.spool`;
    this.storage.move(path, target);
    this.free.push(target);
  }
}
