/*
 * A data-parallel training worker: builds the same network as the main thread, and for every step
 * takes the current weights and a shard of the batch, and returns the shard's gradients, loss and
 * updated BatchNorm statistics. Started by parallel.ts through grad-worker.js.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initBackend, type BackendName } from '../backend/backend';
import { createBcduNet, type BcduNetConfig } from '../models/bcdunet';
import { createCnn3d, type Cnn3dConfig } from '../models/cnn3d';
import { mulberry32, withSeededRandom } from '../random';
import { assignFlatWeights, flatGradients, flatWeights, type LossName } from './grads';
import type { WorkerInit, WorkerReply, WorkerStep } from './parallel.types';

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('grad-worker must run in a worker thread');
  const init = workerData as WorkerInit;
  await initBackend(init.backend as BackendName);
  const model: tfl.LayersModel = init.kind === 'bcdunet'
    ? createBcduNet(init.config as unknown as BcduNetConfig)
    : createCnn3d(init.config as unknown as Cnn3dConfig);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const anchors: tf.Tensor[] = [];
  port.on('message', (message: WorkerStep | { type: 'anchors'; weights: Float32Array } | { type: 'close' }) => {
    if (message.type === 'close') {
      // Dispose, then let the thread end on its own (parallel.ts waits for that instead of terminating it).
      model.dispose();
      tf.dispose(anchors);
      port.close();
      return;
    }
    if (message.type === 'anchors') {
      tf.dispose(anchors.splice(0));
      let offset = 0;
      for (const v of vars) {
        anchors.push(tf.keep(tf.tensor(message.weights.subarray(offset, offset + v.size), v.shape)));
        offset += v.size;
      }
      return;
    }
    try {
      const t0 = performance.now();
      assignFlatWeights(model, message.weights);
      const t1 = performance.now();
      const x = tf.tensor(message.x, message.xShape);
      const y = tf.tensor(message.y, message.yShape);
      const { grads, loss } = withSeededRandom(mulberry32(message.seed),
        () => flatGradients(model, vars, x, y, message.loss as LossName, message.mu, anchors));
      tf.dispose([x, y]);
      const t2 = performance.now();
      const weights = flatWeights(model);
      const reply: WorkerReply = { type: 'grads', grads, loss, weights, timingMs: { assign: t1 - t0, gradients: t2 - t1, read: performance.now() - t2 } };
      port.postMessage(reply, [grads.buffer as ArrayBuffer, weights.buffer as ArrayBuffer]);
    } catch (error) {
      const reply: WorkerReply = { type: 'error', message: error instanceof Error ? error.message : String(error) };
      port.postMessage(reply);
    }
  });
  const ready: WorkerReply = { type: 'ready' };
  port.postMessage(ready);
}

main().catch((error: unknown) => {
  parentPort?.postMessage({ type: 'error', message: error instanceof Error ? error.message : String(error) } satisfies WorkerReply);
});
