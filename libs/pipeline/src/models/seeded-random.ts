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
 * Runs `fn` with `console.warn` silenced: tfjs-layers warns on large orthogonal initialisers, and
 * libraries here never print.
 */
export function quietly<T>(fn: () => T): T {
  const original = console.warn;
  console.warn = () => undefined;
  try {
    return fn();
  } finally {
    console.warn = original;
  }
}
