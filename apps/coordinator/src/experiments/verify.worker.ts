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
    // Only transfer buffers this result owns whole (a view into a shared pool must be copied first).
    if (outcome.masked && outcome.masked.byteLength !== outcome.masked.buffer.byteLength) outcome.masked = outcome.masked.slice();
    if (outcome.weights && outcome.weights.byteLength !== outcome.weights.buffer.byteLength) outcome.weights = outcome.weights.slice();
    for (const view of [outcome.weights, outcome.masked]) {
      if (view && view.buffer instanceof ArrayBuffer && !transfer.includes(view.buffer)) transfer.push(view.buffer);
    }
  }
  parentPort?.postMessage({ id: message.id, outcome }, transfer);
});
