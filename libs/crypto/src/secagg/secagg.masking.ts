import { createCipheriv, hkdfSync } from 'node:crypto';
import { endianness } from 'node:os';
import nacl from 'tweetnacl';
import { SecAggError } from '../errors';
import { SECAGG_DOMAIN } from './secagg.constants';
import { type SecAggParams, fixedPointScale } from './secagg.params';

const BLOCK_WORDS = 1 << 18; // 1 MiB of keystream at a time
const ZEROS = Buffer.alloc(BLOCK_WORDS * 4);
const IV = Buffer.alloc(16);

if (endianness() !== 'LE') throw new SecAggError('secure aggregation needs a little-endian machine', 'unsupported_platform');

/**
 * Quantises one site's update for secure aggregation: element i < d is
 * round(clip(update[i], ±clipRange) · sampleCount · scale) mod 2^32, and element d is sampleCount, so
 * the sum carries both Σ wᵢxᵢ and Σ wᵢ for sample-weighted FedAvg. Throws {@link SecAggError} for a
 * wrong length, a non-finite value, or a sample count outside [0, maxTotalWeight].
 */
export function quantize(update: Float32Array, sampleCount: number, params: SecAggParams): Uint32Array {
  if (update.length !== params.vectorLength) {
    throw new SecAggError(`The update has ${update.length} values, the round expects ${params.vectorLength}`, 'bad_input');
  }
  if (!Number.isSafeInteger(sampleCount) || sampleCount < 0 || sampleCount > params.maxTotalWeight) {
    throw new SecAggError(`sampleCount must be an integer in [0, ${params.maxTotalWeight}], got ${sampleCount}`, 'bad_input');
  }
  const c = params.clipRange;
  const factor = sampleCount * fixedPointScale(c, params.maxTotalWeight);
  const out = new Uint32Array(update.length + 1);
  for (let i = 0; i < update.length; i++) {
    const x = update[i] as number;
    if (!Number.isFinite(x)) throw new SecAggError(`The update holds a non-finite value at index ${i}`, 'bad_input');
    out[i] = Math.round((x > c ? c : x < -c ? -c : x) * factor);
  }
  out[update.length] = sampleCount;
  return out;
}

/** The aggregate decoded: Σ wᵢxᵢ, Σ wᵢ and their ratio (the weighted mean; zeros if Σ wᵢ = 0). */
export interface DecodedAggregate {
  weightedSum: Float32Array;
  totalSampleCount: number;
  mean: Float32Array;
}

/** Turns an unmasked sum mod 2^32 back into real numbers (see {@link quantize}). */
export function dequantize(sum: Uint32Array, params: SecAggParams): DecodedAggregate {
  if (sum.length !== params.vectorLength + 1) throw new SecAggError(`The aggregate has ${sum.length} elements, expected ${params.vectorLength + 1}`, 'bad_input');
  const totalSampleCount = sum[params.vectorLength] as number;
  if (totalSampleCount > params.maxTotalWeight) {
    throw new SecAggError(`The total sample count ${totalSampleCount} exceeds maxTotalWeight ${params.maxTotalWeight}: the sum may have overflowed`, 'overflow');
  }
  const scale = fixedPointScale(params.clipRange, params.maxTotalWeight);
  const weightedSum = new Float32Array(params.vectorLength);
  const mean = new Float32Array(params.vectorLength);
  for (let i = 0; i < params.vectorLength; i++) {
    const v = ((sum[i] as number) | 0) / scale;
    weightedSum[i] = v;
    mean[i] = totalSampleCount > 0 ? v / totalSampleCount : 0;
  }
  return { weightedSum, totalSampleCount, mean };
}

/**
 * Adds (sign 1) or subtracts (sign -1) the ChaCha20 keystream under `seed` (32 bytes, zero nonce,
 * counter from 0), read as little-endian uint32 words, to `target` modulo 2^32, in place.
 */
export function applyMask(target: Uint32Array, seed: Uint8Array, sign: 1 | -1): void {
  if (seed.length !== 32) throw new SecAggError('A mask seed must be 32 bytes', 'bad_input');
  const cipher = createCipheriv('chacha20', seed, IV);
  for (let offset = 0; offset < target.length; offset += BLOCK_WORDS) {
    const n = Math.min(BLOCK_WORDS, target.length - offset);
    let ks = cipher.update(n === BLOCK_WORDS ? ZEROS : ZEROS.subarray(0, n * 4));
    if (ks.byteOffset % 4 !== 0) ks = Buffer.from(ks);
    const words = new Uint32Array(ks.buffer, ks.byteOffset, n);
    if (sign === 1) for (let i = 0, j = offset; i < n; i++, j++) target[j] = (target[j] as number) + (words[i] as number);
    else for (let i = 0, j = offset; i < n; i++, j++) target[j] = (target[j] as number) - (words[i] as number);
  }
}

/** The PRG seed of the self mask: HKDF(b, salt = context, info = self-mask label). */
export function selfMaskSeed(selfSecret: Uint8Array, context: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', selfSecret, context, SECAGG_DOMAIN.selfMask, 32));
}

/**
 * The PRG seed of the pair mask between sites `a` and `b`: HKDF(X25519(secret, peerPublic),
 * salt = context, info = label ‖ min(a,b) ‖ max(a,b)). Both sites compute the same seed.
 * Throws {@link SecAggError} if the peer's key is a low-order point.
 */
export function pairMaskSeed(maskingSecretKey: Uint8Array, peerMaskingPublicKey: Uint8Array, a: string, b: string, context: Uint8Array): Uint8Array {
  const shared = nacl.scalarMult(maskingSecretKey, peerMaskingPublicKey);
  if (shared.every((x) => x === 0)) throw new SecAggError('A masking public key is a low-order point', 'bad_key');
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return new Uint8Array(hkdfSync('sha256', shared, context, `${SECAGG_DOMAIN.pairMask}\u0000${lo}\u0000${hi}`, 32));
}

/** Encodes a mod-2^32 vector as little-endian bytes (a copy). */
export function vectorToBytes(vector: Uint32Array): Uint8Array {
  return new Uint8Array(vector.buffer.slice(vector.byteOffset, vector.byteOffset + vector.byteLength));
}

/** Decodes little-endian bytes into a mod-2^32 vector (a copy); throws if the length is not a multiple of 4. */
export function bytesToVector(bytes: Uint8Array): Uint32Array {
  if (bytes.length % 4 !== 0) throw new SecAggError('A masked vector must be a multiple of 4 bytes', 'bad_input');
  const copy = new Uint8Array(bytes);
  return new Uint32Array(copy.buffer, 0, bytes.length / 4);
}
