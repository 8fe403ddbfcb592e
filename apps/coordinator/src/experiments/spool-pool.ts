import { existsSync, ftruncateSync, mkdirSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../core/coordinator.config';

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

  constructor(@Inject(COORDINATOR_CONFIG) config: CoordinatorConfig) {
    this.dir = join(config.dataDir, 'uploads', 'recycled');
    // Every upload in flight plus the envelopes a streaming round keeps between checkpoints.
    this.maxFiles = config.limits.maxConcurrentUploads + config.roundCheckpointEvery;
    if (existsSync(this.dir)) for (const name of readdirSync(this.dir)) rmSync(join(this.dir, name), { force: true });
    mkdirSync(this.dir, { recursive: true });
  }

  /** Recycled files waiting to be reused. */
  get size(): number {
    return this.free.length;
  }

  /**
   * Creates the spool file `path` of `bytes` bytes (from a recycled file when there is one) and
   * returns a descriptor open for reading and writing.
   */
  create(path: string, bytes: number): number {
    const recycled = this.free.pop();
    let fd: number;
    if (recycled) {
      renameSync(recycled, path);
      fd = openSync(path, 'r+');
    } else {
      fd = openSync(path, 'w+');
    }
    ftruncateSync(fd, bytes);
    return fd;
  }

  /** Takes a spent spool file (closed) for reuse, or deletes it when the pool is full; absent files are ignored. */
  recycle(path: string): void {
    if (!existsSync(path)) return;
    if (this.free.length >= this.maxFiles) {
      rmSync(path, { force: true });
      return;
    }
    const target = join(this.dir, `${process.pid}-${this.counter++}.spool`);
    renameSync(path, target);
    this.free.push(target);
  }
}
