import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../core/coordinator.config';
import { type VerifyJob, type VerifyOutcome, verifyEnvelopeFile } from './verify.job';

interface Slot {
  worker: Worker;
  /** The job this worker runs now (one at a time; the rest wait in the pool's queue). */
  running: Queued | null;
}

interface Queued {
  job: VerifyJob;
  resultBytes: number | null;
  resolve: (lease: VerifyLease) => void;
  reject: (error: Error) => void;
  /** The shared result buffer this job decrypts into, held until the lease is released. */
  buffer: SharedArrayBuffer | null;
}

/**
 * A verification outcome. Its weights may be a view of one of the pool's shared result buffers:
 * read them (fold, spool) synchronously, then call `release()` once, after which the buffer is reused.
 */
export interface VerifyLease {
  outcome: VerifyOutcome;
  release(): void;
}

/**
 * Opens and checks uploaded envelopes on `verifyWorkers` worker threads (decryption, signature,
 * decode, finiteness and norm are the bulk of an update's CPU cost), so several updates are verified
 * at once and the main thread stays free for sockets and the fold. With 0 workers it runs inline.
 *
 * Each update is decrypted into a shared result buffer of the pool (two per worker, reused), which
 * the main thread then reads in place: no model-sized allocation, transfer or garbage per update, so
 * the coordinator's memory does not swing with 20 MB buffers waiting for the garbage collector and
 * the allocator. A job that finds no free buffer of its size decrypts into a new one as before.
 */
@Injectable()
export class VerifierPool implements OnModuleDestroy {
  private readonly logger = new Logger(VerifierPool.name);
  private readonly workers: Slot[] = [];
  private readonly queue: Queued[] = [];
  private readonly freeBuffers: SharedArrayBuffer[] = [];
  private buffersInUse = 0;
  private readonly maxBuffers: number;
  private failures = 0;

  constructor(@Inject(COORDINATOR_CONFIG) config: CoordinatorConfig) {
    for (let i = 0; i < config.verifyWorkers; i++) this.spawn();
    this.maxBuffers = Math.max(2, 2 * config.verifyWorkers);
  }

  /** Worker threads running now (0: verification runs inline). */
  get size(): number {
    return this.workers.length;
  }

  /** Shared result buffers allocated (free or leased). */
  get buffers(): number {
    return this.freeBuffers.length + this.buffersInUse;
  }

  /**
   * Verifies one upload; resolves with the outcome (never rejects for a bad envelope). `resultBytes`:
   * the largest payload expected (e.g. the base model's blob), to decrypt into a shared buffer.
   */
  run(job: VerifyJob, resultBytes: number | null = null): Promise<VerifyLease> {
    return new Promise<VerifyLease>((resolve, reject) => {
      const queued: Queued = { job, resultBytes, resolve, reject, buffer: null };
      if (this.workers.length === 0) {
        this.start(queued, null);
        return;
      }
      this.queue.push(queued);
      this.dispatch();
    });
  }

  async onModuleDestroy(): Promise<void> {
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }

  private dispatch(): void {
    for (const slot of this.workers) {
      if (slot.running || this.queue.length === 0) continue;
      this.start(this.queue.shift()!, slot);
    }
  }

  /** Runs `queued` on `slot` (or inline), with a shared result buffer when one is free. */
  private start(queued: Queued, slot: Slot | null): void {
    queued.buffer = queued.resultBytes !== null && !queued.job.secure ? this.acquire(queued.resultBytes) : null;
    const job: VerifyJob = queued.buffer ? { ...queued.job, into: queued.buffer } : queued.job;
    if (!slot) {
      try {
        this.finish(queued, verifyEnvelopeFile(job));
      } catch (error) {
        this.fail(queued, error as Error);
      }
      return;
    }
    slot.running = queued;
    slot.worker.postMessage({ job });
  }

  private finish(queued: Queued, outcome: VerifyOutcome): void {
    let released = false;
    queued.resolve({
      outcome,
      release: () => {
        if (released) return;
        released = true;
        this.giveBack(queued.buffer);
      },
    });
  }

  private fail(queued: Queued, error: Error): void {
    this.giveBack(queued.buffer);
    queued.reject(error);
  }

  private acquire(bytes: number): SharedArrayBuffer | null {
    const index = this.freeBuffers.findIndex((b) => b.byteLength >= bytes && b.byteLength <= 2 * bytes);
    if (index >= 0) {
      this.buffersInUse++;
      return this.freeBuffers.splice(index, 1)[0]!;
    }
    // A free buffer of another model's size is dropped to make room (e.g. the denoiser's after it).
    if (this.freeBuffers.length + this.buffersInUse >= this.maxBuffers) {
      if (this.freeBuffers.length === 0) return null;
      this.freeBuffers.shift();
    }
    this.buffersInUse++;
    return new SharedArrayBuffer(bytes);
  }

  private giveBack(buffer: SharedArrayBuffer | null): void {
    if (!buffer) return;
    this.buffersInUse--;
    this.freeBuffers.push(buffer);
  }

  private spawn(): void {
    const worker = new Worker(join(__dirname, 'verify.worker.js'));
    const slot: Slot = { worker, running: null };
    worker.unref();
    worker.on('message', (message: { outcome: VerifyOutcome | { kind: 'error'; message: string } }) => {
      const queued = slot.running;
      slot.running = null;
      if (queued) {
        if (message.outcome.kind === 'error') this.fail(queued, new Error(message.outcome.message));
        else this.finish(queued, message.outcome);
      }
      this.dispatch();
    });
    worker.on('error', (error) => {
      this.logger.error(`verify worker failed: ${error.message}`);
      const queued = slot.running;
      slot.running = null;
      if (queued) this.fail(queued, error);
      const index = this.workers.indexOf(slot);
      if (index >= 0) this.workers.splice(index, 1);
      // A worker that keeps failing (e.g. cannot start) is not replaced: verification runs inline.
      if (++this.failures <= 3) this.spawn();
      if (this.workers.length === 0) for (const waiting of this.queue.splice(0)) this.start(waiting, null);
      else this.dispatch();
    });
    this.workers.push(slot);
  }
}
