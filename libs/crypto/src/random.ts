import { createCipheriv, createHash, randomFillSync } from 'node:crypto';

/** A source of random bytes: returns `n` fresh bytes on each call. */
export type RandomBytes = (n: number) => Uint8Array;

/** Cryptographically secure random bytes from the operating system (node:crypto). */
export const secureRandomBytes: RandomBytes = (n) => {
  const out = new Uint8Array(n);
  if (n > 0) randomFillSync(out);
  return out;
};

/**
 * A deterministic byte stream for tests, benchmarks and simulations: the ChaCha20 keystream under
 * key SHA-256("fedct/seeded-rng/v1" || seed). Never use it for real keys.
 */
export function seededRandomBytes(seed: Uint8Array | string | number): RandomBytes {
  const seedBytes = typeof seed === 'string' || typeof seed === 'number' ? Buffer.from(String(seed), 'utf8') : seed;
  const key = createHash('sha256').update('fedct/seeded-rng/v1').update(seedBytes).digest();
  const cipher = createCipheriv('chacha20', key, Buffer.alloc(16));
  return (n) => {
    if (n === 0) return new Uint8Array(0);
    return new Uint8Array(cipher.update(Buffer.alloc(n)));
  };
}
