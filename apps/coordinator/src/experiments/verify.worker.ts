import { parentPort } from 'node:worker_threads';
import { type VerifyJob, type VerifyOutcome, verifyEnvelopeFile } from './verify.job';

// One job at a time (the pool queues the rest): the reply needs no id.
parentPort?.on('message', (message: { job: VerifyJob }) => {
  let outcome: VerifyOutcome | { kind: 'error'; message: string };
  try {
    outcome = verifyEnvelopeFile(message.job);
  } catch (error) {
    outcome = { kind: 'error', message: (error as Error).message };
  }
  const transfer: ArrayBuffer[] = [];
  if (outcome.kind === 'opened') {
    // Views of the pool's shared result buffer go back as they are (shared, not copied). Otherwise
    // transfer only buffers that hold little else than this result: the weights are a view into the
    // decrypted payload (its 12-byte blob header and manifest come before them); a small view into a
    // shared Buffer pool must be copied, never transferred.
    if (outcome.masked && !ownsBuffer(outcome.masked)) outcome.masked = outcome.masked.slice();
    if (outcome.weights && !ownsBuffer(outcome.weights)) outcome.weights = outcome.weights.slice();
    for (const view of [outcome.weights, outcome.masked]) {
      if (view && view.buffer instanceof ArrayBuffer && !transfer.includes(view.buffer)) transfer.push(view.buffer);
    }
  }
  parentPort?.postMessage({ outcome }, transfer);
});

/**
 * True when `view` may be sent as it is: a view of a SharedArrayBuffer (the pool's result buffer), or
 * one covering all of its (non-shared, larger than a Buffer pool) buffer but at most 64 KiB.
 */
function ownsBuffer(view: ArrayBufferView): boolean {
  const buffer = view.buffer;
  if (typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer) return true;
  return buffer instanceof ArrayBuffer && buffer.byteLength > Buffer.poolSize && buffer.byteLength - view.byteLength <= 64 * 1024;
}
