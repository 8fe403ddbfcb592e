import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { TrainError } from './train.errors';
import type { WorkerInit, WorkerReply, WorkerStep } from './parallel.types';

interface Pending {
  resolve: (reply: Extract<WorkerReply, { type: 'grads' }>) => void;
  reject: (error: Error) => void;
}

/**
 * Worker threads that each hold a copy of the network and compute gradients on a shard of a batch
 * (data parallelism: the wasm backend runs one thread per process under Node, so this is how training
 * uses more than one core).
 */
export class GradientWorkers {
  private readonly pending = new Map<Worker, Pending>();
  /** Each worker's exit code, once it has exited (by itself, by a crash or terminated). */
  private readonly exited = new Map<Worker, Promise<number>>();

  private constructor(private readonly workers: Worker[]) {
    for (const worker of workers) {
      this.exited.set(worker, new Promise<number>((resolve) => worker.once('exit', (code: number) => {
        const p = this.pending.get(worker);
        this.pending.delete(worker);
        p?.reject(new TrainError(`training worker exited (code ${code}) in the middle of a step`));
        resolve(code);
      })));
      worker.on('message', (reply: WorkerReply) => {
        const p = this.pending.get(worker);
        if (!p) return;
        this.pending.delete(worker);
        if (reply.type === 'grads') p.resolve(reply);
        else if (reply.type === 'error') p.reject(new TrainError(`training worker failed: ${reply.message}`));
      });
      worker.on('error', (error) => {
        const p = this.pending.get(worker);
        this.pending.delete(worker);
        p?.reject(new TrainError(`training worker crashed: ${error.message}`, { cause: error }));
      });
    }
  }

  /** Starts `count` workers building the network of `init` on the given backend. */
  static async start(count: number, init: WorkerInit): Promise<GradientWorkers> {
    const workers = Array.from({ length: count }, () => new Worker(join(__dirname, 'grad-worker.js'), { workerData: init }));
    try {
      await Promise.all(workers.map((worker) => new Promise<void>((resolve, reject) => {
        const onMessage = (reply: WorkerReply) => {
          worker.off('message', onMessage);
          if (reply.type === 'ready') resolve();
          else reject(new TrainError(`training worker failed to start: ${reply.type === 'error' ? reply.message : reply.type}`));
        };
        worker.on('message', onMessage);
        worker.once('error', (error) => reject(new TrainError(`training worker failed to start: ${error.message}`, { cause: error })));
      })));
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
    return new GradientWorkers(workers);
  }

  get size(): number {
    return this.workers.length;
  }

  /** Sends the FedProx anchor (trainable weights at the start) to every worker. */
  setAnchors(trainable: Float32Array): void {
    for (const worker of this.workers) worker.postMessage({ type: 'anchors', weights: trainable });
  }

  /** Runs one shard on each worker (shards.length ≤ size) and returns the replies in order. */
  compute(shards: WorkerStep[]): Promise<Extract<WorkerReply, { type: 'grads' }>[]> {
    if (shards.length > this.workers.length) throw new TrainError(`${shards.length} shards for ${this.workers.length} workers`);
    return Promise.all(shards.map((shard, i) => new Promise<Extract<WorkerReply, { type: 'grads' }>>((resolve, reject) => {
      const worker = this.workers[i] as Worker;
      this.pending.set(worker, { resolve, reject });
      worker.postMessage(shard, [shard.x.buffer as ArrayBuffer, shard.y.buffer as ArrayBuffer]);
    })));
  }

  /**
   * Asks every worker to dispose of its network and exit by itself, and waits until it has; a worker
   * still running after `graceMs` is terminated. Resolves with the workers' exit codes (0: exited by
   * itself; 1: terminated). (Terminating was a suspect of the crash in docs/ARCHITECTURE.md "A V8
   * crash", wrongly, but a worker that ends by itself is the cleaner stop.)
   */
  async close(graceMs = 30_000): Promise<number[]> {
    return Promise.all(this.workers.map(async (worker) => {
      const exited = this.exited.get(worker) as Promise<number>;
      worker.postMessage({ type: 'close' }); // dropped by a worker that has already exited
      const timer = setTimeout(() => void worker.terminate(), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    }));
  }
}
