import { fromBase64, open as openEnvelope, peekHeader, type EnvelopeHeader } from '@fedct/crypto';
import type { ErrorCode, ModelManifest, TensorSpec } from '@fedct/protocol';
import { readWholeReusing } from '../core/storage';
import { checkUpdatePayload } from './update-check';

/** Everything needed to open and check one uploaded envelope, off the main thread if wanted. */
export interface VerifyJob {
  /** The assembled upload (sealed envelope bytes). */
  file: string;
  /**
   * The upload's chunk manifest, every chunk of `file` checked against it on arrival: a version 2
   * envelope's signature is verified from these hashes instead of hashing the whole file again.
   */
  verifiedChunks?: { chunkSize: number; chunkSha256: string[] };
  /**
   * A shared buffer to decrypt into when the payload fits (the pool's result buffer, read in place by
   * the main thread); otherwise a new buffer is allocated.
   */
  into?: SharedArrayBuffer;
  /** The authenticated session's site and its enrolled signing key (base64). */
  siteId: string;
  signingPublicKey: string;
  /** The coordinator's X25519 secret key. */
  boxSecretKey: Uint8Array;
  /** Secure-aggregation round: the payload is a masked vector, returned as is. */
  secure: boolean;
  /** Tensors the update must have (null: not known yet in round 1 without a base). */
  tensors: TensorSpec[] | null;
  /** The round's base weights (may live in a SharedArrayBuffer) and the norm bound. */
  base: Float32Array | null;
  normBound: number | null;
}

/**
 * `rejected` before the header could be trusted (`signed: false`), or an authenticated header with the
 * payload's verdict: `verdict` null means the payload passed (weights or masked bytes attached).
 */
export type VerifyOutcome =
  | { kind: 'rejected'; code: ErrorCode; message: string }
  | {
      kind: 'opened';
      header: EnvelopeHeader;
      verdict: { code: ErrorCode; message: string } | null;
      manifest: ModelManifest | null;
      weights: Float32Array | null;
      masked: Uint8Array | null;
    };

/** This thread's read buffer, reused for every envelope (see readWholeReusing). */
const reading: { buffer: Buffer | null } = { buffer: null };

/** Opens the envelope with the site's key and checks its payload (shapes, finiteness, norm). */
export function verifyEnvelopeFile(job: VerifyJob): VerifyOutcome {
  const sealed = readWholeReusing(job.file, reading);
  const peeked = peekHeader(sealed);
  if (!peeked) return { kind: 'rejected', code: 'rejected_envelope', message: 'not a sealed envelope' };
  if (peeked.site !== job.siteId) return { kind: 'rejected', code: 'rejected_site', message: `envelope claims site ${peeked.site}` };
  const opened = openEnvelope(sealed, fromBase64(job.signingPublicKey), job.boxSecretKey, {
    ...(job.verifiedChunks ? { verifiedChunks: job.verifiedChunks } : {}),
    ...(job.into ? { into: new Uint8Array(job.into) } : {}),
  });
  if (!opened) return { kind: 'rejected', code: 'rejected_envelope', message: "envelope signature or encryption check failed (not signed by this site's key)" };
  if (job.secure) return { kind: 'opened', header: opened.header, verdict: null, manifest: null, weights: null, masked: opened.payload };
  const checked = checkUpdatePayload(opened.payload, job.tensors, job.base, job.normBound);
  if (!checked.ok) return { kind: 'opened', header: opened.header, verdict: checked.verdict, manifest: null, weights: null, masked: null };
  return { kind: 'opened', header: opened.header, verdict: null, manifest: checked.blob.manifest, weights: checked.blob.weights, masked: null };
}
