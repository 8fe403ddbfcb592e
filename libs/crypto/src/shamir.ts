/**
 * Shamir secret sharing over GF(2^8) (the AES field, x^8 + x^4 + x^3 + x + 1), byte by byte: each
 * byte of the secret is the constant term of its own random polynomial of degree t - 1, and share
 * `index` holds every polynomial evaluated at x = index (1..255). Any t shares give the secret back;
 * fewer reveal nothing about it. Table lookups are not constant-time in JavaScript: shares are
 * computed once per round on the site's own machine, so that leak is not exposed to a remote party.
 */
import { ShamirError } from './errors';
import { type RandomBytes, secureRandomBytes } from './random';

/** One share: its x coordinate (1..255) and one byte per secret byte. */
export interface Share {
  index: number;
  value: Uint8Array;
}

const EXP = new Uint8Array(510);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    EXP[i + 255] = x;
    LOG[x] = i;
    // multiply by the generator 0x03: x * 2 xor x, reduced by the AES polynomial
    x ^= (x << 1) ^ (x & 0x80 ? 0x11b : 0);
    x &= 0xff;
  }
}

/** Multiplication in GF(2^8) with the AES polynomial (exported for tests). */
export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP[(LOG[a] ?? 0) + (LOG[b] ?? 0)] ?? 0;
}

function gfDiv(a: number, b: number): number {
  if (b === 0) throw new ShamirError('division by zero in GF(2^8)');
  if (a === 0) return 0;
  return EXP[(LOG[a] ?? 0) + 255 - (LOG[b] ?? 0)] ?? 0;
}

/**
 * Splits `secret` into `n` shares (indices 1..n) such that any `t` recover it.
 * Throws {@link ShamirError} unless 1 <= t <= n <= 255.
 */
export function split(secret: Uint8Array, n: number, t: number, rng: RandomBytes = secureRandomBytes): Share[] {
  if (!Number.isInteger(n) || !Number.isInteger(t) || t < 1 || n < t || n > 255) {
    throw new ShamirError(`shamir.split: need 1 <= t <= n <= 255, got n=${n}, t=${t}`);
  }
  const len = secret.length;
  const coefficients = rng((t - 1) * len);
  const shares: Share[] = [];
  for (let x = 1; x <= n; x++) {
    const value = new Uint8Array(len);
    for (let b = 0; b < len; b++) {
      // Horner from the highest coefficient down to the secret byte.
      let y = 0;
      for (let k = t - 2; k >= 0; k--) y = gfMul(y, x) ^ (coefficients[k * len + b] ?? 0);
      value[b] = gfMul(y, x) ^ (secret[b] ?? 0);
    }
    shares.push({ index: x, value });
  }
  return shares;
}

/**
 * Recovers the secret from shares by Lagrange interpolation at 0. With at least t shares of one
 * secret this is the secret; with fewer it is an unrelated value (Shamir cannot tell). Throws
 * {@link ShamirError} for no shares, duplicate or out-of-range indices, or shares of different lengths.
 */
export function combine(shares: readonly Share[]): Uint8Array {
  const first = shares[0];
  if (!first) throw new ShamirError('shamir.combine: no shares');
  const len = first.value.length;
  const seen = new Set<number>();
  for (const s of shares) {
    if (!Number.isInteger(s.index) || s.index < 1 || s.index > 255) throw new ShamirError(`shamir.combine: share index ${s.index} is outside 1..255`);
    if (seen.has(s.index)) throw new ShamirError(`shamir.combine: share index ${s.index} appears twice`);
    if (s.value.length !== len) throw new ShamirError('shamir.combine: shares have different lengths');
    seen.add(s.index);
  }
  const weights = shares.map((si) => {
    let num = 1;
    let den = 1;
    for (const sj of shares) {
      if (sj.index === si.index) continue;
      num = gfMul(num, sj.index);
      den = gfMul(den, sj.index ^ si.index);
    }
    return gfDiv(num, den);
  });
  const out = new Uint8Array(len);
  shares.forEach((s, i) => {
    const w = weights[i] ?? 0;
    for (let b = 0; b < len; b++) out[b] = (out[b] ?? 0) ^ gfMul(w, s.value[b] ?? 0);
  });
  return out;
}
