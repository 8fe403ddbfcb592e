import { createHash } from 'node:crypto';

/*
 * Seeded randomness, one definition for the package (and the site agent): the generator, the swap
 * of Math.random that makes tfjs reproducible, and the two ways a seed is derived from text. Outputs
 * (phantom studies, initial weights, training orders) depend on each of them bit for bit.
 */

/** A seeded uniform [0, 1) generator (mulberry32): the same seed gives the same sequence everywhere. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs `fn` synchronously with `Math.random` replaced by `rng`. tfjs draws the seeds of its unseeded
 * random ops (weight initialisers, dropout masks) from `Math.random`, so this makes model creation and
 * training steps reproducible. Only synchronous code runs inside, so nothing else sees the swap.
 */
export function withSeededRandom<T>(rng: () => number, fn: () => T): T {
  const original = Math.random;
  Math.random = rng;
  try {
    return fn();
  } finally {
    Math.random = original;
  }
}

/**
 * A 32-bit seed from the sha256 of `parts` joined by `|` (its first four bytes, little endian): the
 * phantom generator's seeds (anatomy, texture, pathology, noise per slice).
 */
export function sha256Seed(...parts: (string | number)[]): number {
  const h = createHash('sha256').update(parts.join('|')).digest();
  return h.readUInt32LE(0);
}

/** A 31-bit seed from a string (32-bit FNV-1a, top bit cleared): the site agent's per-task training seed. */
export function fnv1aSeed(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h & 0x7fffffff;
}
