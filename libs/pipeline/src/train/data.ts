import * as tf from '@tensorflow/tfjs-core';

/** A stack of model-ready slices (values in [0, 1]), laid out (count, height, width), x fastest. */
export interface SliceSet {
  data: Float32Array;
  count: number;
  height: number;
  width: number;
}

/**
 * A volume (depth, height, width), x fastest, with its class (0 control, 1 covid-19, 2 cap). A classifier
 * with several input channels takes them interleaved, channel fastest (`data` holds shape × channels values).
 */
export interface LabelledVolume {
  data: Float32Array;
  shape: [number, number, number];
  label: number;
}

/** Progress of a training run, reported after every step. */
export interface TrainProgress {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  /** Mean loss of the steps so far in this epoch. */
  loss: number;
}

/** What every training run returns: the new weights, how many examples it saw per epoch, and metrics. */
export interface TrainResult {
  weights: import('@fedct/protocol').ModelBlob;
  sampleCount: number;
  metrics: Record<string, number>;
}

/**
 * Slices (n, h, w, 1) to (n, size, size, 1): a block mean when h and w are multiples of `size` (exact
 * anti-aliasing), bilinear otherwise.
 */
export function resizeSlices(x: tf.Tensor4D, size: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  if (h === size && w === size) return x;
  if (h % size === 0 && w % size === 0) return tf.avgPool(x, [h / size, w / size], [h / size, w / size], 'valid');
  return tf.image.resizeBilinear(x, [size, size], true);
}

/** A seeded Fisher-Yates permutation of 0..n-1. */
export function shuffled(n: number, rng: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = order[i] ?? 0;
    order[i] = order[j] ?? 0;
    order[j] = t;
  }
  return order;
}

/** Lets timers and sockets run between training steps (the site agent must keep its heartbeats). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
