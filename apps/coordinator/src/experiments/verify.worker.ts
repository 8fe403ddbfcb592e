import { parentPort } from 'node:worker_threads';
import { type VerifyJob, type VerifyOutcome, verifyEnvelopeFile } from './verify.job';

parentPort?.on('message', (message: { id: number; job: VerifyJob }) => {
  let outcome: VerifyOutcome | { kind: 'error'; message: string };
  try {
    outcome = verifyEnvelopeFile(message.job);
  } catch (error) {
    outcome = { kind: 'error', message: (error as Error).message };
  }
  const transfer: ArrayBuffer[] = [];
  if (outcome.kind === 'opened') {
    // Transfer only buffers that hold little else than this result: the weights are a view into the
    // decrypted payload (its 12-byte blob header and manifest come before them); a small view into a
    // shared Buffer pool must be copied, never transferred.
    if (outcome.masked && !ownsBuffer(outcome.masked)) outcome.masked = outcome.masked.slice();
    if (outcome.weights && !ownsBuffer(outcome.weights)) outcome.weights = outcome.weights.slice();
    for (const view of [outcome.weights, outcome.masked]) {
      if (view && view.buffer instanceof ArrayBuffer && !transfer.includes(view.buffer)) transfer.push(view.buffer);
    }
  }
  parentPort?.postMessage({ id: message.id, outcome }, transfer);
});

/** True when `view` covers all of its (non-shared, larger than a Buffer pool) buffer but at most 64 KiB. */
function ownsBuffer(view: ArrayBufferView): boolean {
  const buffer = view.buffer;
  return buffer instanceof ArrayBuffer && buffer.byteLength > Buffer.poolSize && buffer.byteLength - view.byteLength <= 64 * 1024;
}
