import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../core/coordinator.config';
import { type VerifyJob, type VerifyOutcome, verifyEnvelopeFile } from './verify.job';

interface Slot {
  worker: Worker;
  busy: number;
}

interface Pending {
  slot: Slot;
  resolve: (outcome: VerifyOutcome) => void;
  reject: (error: Error) => void;
}

/**
 * Opens and checks uploaded envelopes on `verifyWorkers` worker threads (decryption, signature,
 * decode, finiteness and norm are the bulk of an update's CPU cost), so several updates are verified
 * at once and the main thread stays free for sockets and the fold. With 0 workers it runs inline.
 */
@Injectable()
export class VerifierPool implements OnModuleDestroy {
  private readonly logger = new Logger(VerifierPool.name);
  private readonly workers: Slot[] = [];
  private failures = 0;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(@Inject(COORDINATOR_CONFIG) config: CoordinatorConfig) {
    for (let i = 0; i < config.verifyWorkers; i++) this.spawn();
  }

  /** Worker threads running now (0: verification runs inline). */
  get size(): number {
    return this.workers.length;
  }

  /** Verifies one upload; resolves with the outcome (never rejects for a bad envelope). */
  run(job: VerifyJob): Promise<VerifyOutcome> {
    const slot = this.workers.reduce<Slot | null>((best, w) => (!best || w.busy < best.busy ? w : best), null);
    if (!slot) return Promise.resolve(verifyEnvelopeFile(job));
    const id = this.nextId++;
    slot.busy++;
    return new Promise<VerifyOutcome>((resolve, reject) => {
      this.pending.set(id, {
        slot,
        resolve: (o) => {
          slot.busy--;
          resolve(o);
        },
        reject: (e) => {
          slot.busy--;
          reject(e);
        },
      });
      slot.worker.postMessage({ id, job });
    });
  }

  async onModuleDestroy(): Promise<void> {
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }

  private spawn(): void {
    const worker = new Worker(join(__dirname, 'verify.worker.js'));
    const slot: Slot = { worker, busy: 0 };
    worker.unref();
    worker.on('message', (message: { id: number; outcome: VerifyOutcome | { kind: 'error'; message: string } }) => {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.pending.delete(message.id);
      if (message.outcome.kind === 'error') pending.reject(new Error(message.outcome.message));
      else pending.resolve(message.outcome);
    });
    worker.on('error', (error) => {
      this.logger.error(`verify worker failed: ${error.message}`);
      for (const [id, p] of this.pending) {
        if (p.slot !== slot) continue;
        this.pending.delete(id);
        p.reject(error);
      }
      const index = this.workers.indexOf(slot);
      if (index >= 0) this.workers.splice(index, 1);
      // A worker that keeps failing (e.g. cannot start) is not replaced: verification runs inline.
      if (++this.failures <= 3) this.spawn();
    });
    this.workers.push(slot);
  }
}
