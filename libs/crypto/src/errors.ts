/** Base class of every error @fedct/crypto throws; `message` is one line for a person. */
export class CryptoError extends Error {
  override readonly name: string = 'CryptoError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A key file that is missing, malformed, or readable by group/others. */
export class KeyFileError extends CryptoError {
  override readonly name = 'KeyFileError';
}

/** Misuse of the envelope API (bad key length, header that cannot be encoded). Tampering never throws. */
export class EnvelopeError extends CryptoError {
  override readonly name = 'EnvelopeError';
}

/** A chunk manifest that is inconsistent, or asking for a result before all chunks arrived. */
export class ChunkError extends CryptoError {
  override readonly name = 'ChunkError';
}

/** Shamir secret sharing misuse (bad n/t, duplicate or mismatched shares). */
export class ShamirError extends CryptoError {
  override readonly name = 'ShamirError';
}

/** A secure aggregation stage that cannot proceed (too few shares, inconsistent sets, bad signature). */
export class SecAggError extends CryptoError {
  override readonly name = 'SecAggError';
  constructor(
    message: string,
    /** Machine-readable reason, e.g. `too_few_shares`, `bad_signature`, `inconsistent_sets`. */
    readonly code: string = 'secagg_failed',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Differential privacy misuse (negative noise, delta outside (0, 1)). */
export class DpError extends CryptoError {
  override readonly name = 'DpError';
}
