/** What a gradient worker is started with. */
export interface WorkerInit {
  backend: string;
  kind: 'bcdunet' | 'cnn3d';
  config: Record<string, unknown>;
}

/** One step for a worker: current weights (all, model order) and its shard of the batch. */
export interface WorkerStep {
  type: 'step';
  weights: Float32Array;
  x: Float32Array;
  xShape: number[];
  y: Float32Array;
  yShape: number[];
  loss: string;
  mu: number;
  /** Seed of the shard's dropout masks. */
  seed: number;
}

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'grads'; grads: Float32Array; loss: number; weights: Float32Array; timingMs: { assign: number; gradients: number; read: number } }
  | { type: 'error'; message: string };
