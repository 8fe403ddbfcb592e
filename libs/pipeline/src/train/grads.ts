import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** Loss functions by name, so that worker threads can use the same ones. */
export type LossName = 'binaryCrossentropy' | 'categoricalCrossentropy';

export function lossFunction(name: LossName): (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar {
  return name === 'binaryCrossentropy'
    ? (y, p) => tf.mean(tfl.metrics.binaryCrossentropy(y, p))
    : (y, p) => tf.mean(tfl.metrics.categoricalCrossentropy(y, p));
}

/** The loss of one batch, plus the FedProx term mu/2 · Σ ||w − anchor||² when mu > 0. */
export function batchLoss(
  model: tfl.LayersModel, vars: tf.Variable[], x: tf.Tensor, y: tf.Tensor, loss: LossName, mu: number, anchors: tf.Tensor[],
): tf.Scalar {
  const out = model.apply(x, { training: true }) as tf.Tensor;
  let l = lossFunction(loss)(y, out);
  if (mu > 0) {
    const prox = tf.addN(vars.map((v, i) => tf.sum(tf.square(tf.sub(v, anchors[i] as tf.Tensor)))));
    l = tf.add(l, tf.mul(mu / 2, prox));
  }
  return l;
}

/**
 * Gradients of the batch loss w.r.t. `vars`, flattened in order into one Float32Array, and the loss.
 * Runs the forward pass in training mode (dropout on, BatchNorm statistics updated).
 */
export function flatGradients(
  model: tfl.LayersModel, vars: tf.Variable[], x: tf.Tensor, y: tf.Tensor, lossName: LossName, mu: number, anchors: tf.Tensor[],
): { grads: Float32Array; loss: number } {
  const flat = new Float32Array(vars.reduce((n, v) => n + v.size, 0));
  let loss = NaN;
  // Nothing but tensors may leave tf.tidy: it walks returned objects key by key (a 5M-float array!).
  tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => batchLoss(model, vars, x, y, lossName, mu, anchors), vars);
    let offset = 0;
    for (const v of vars) {
      const g = grads[v.name];
      if (g) flat.set(g.dataSync(), offset);
      offset += v.size;
    }
    loss = value.dataSync()[0] ?? NaN;
  });
  return { grads: flat, loss };
}

/** Copies every weight of the model (trainable or not, in `model.weights` order) into one array. */
export function flatWeights(model: tfl.LayersModel): Float32Array {
  const ws = model.weights;
  const out = new Float32Array(ws.reduce((n, w) => n + w.read().size, 0));
  let offset = 0;
  for (const w of ws) {
    const values = w.read().dataSync();
    out.set(values, offset);
    offset += values.length;
  }
  return out;
}

/** Writes a flat array made by {@link flatWeights} back into the model's weights. */
export function assignFlatWeights(model: tfl.LayersModel, flat: Float32Array, which: 'all' | 'nonTrainable' = 'all'): void {
  tf.tidy(() => {
    let offset = 0;
    for (const w of model.weights) {
      const size = w.read().size;
      if (which === 'all' || !w.trainable) w.write(tf.tensor(flat.subarray(offset, offset + size), w.shape as number[]));
      offset += size;
    }
  });
}
