import { describe, expect, it } from 'vitest';
import { fnv1aSeed, mulberry32, sha256Seed, withSeededRandom } from './random';

// Known answers: phantom studies, initial weights and training orders depend on these bit for bit.
describe(mulberry32.name, () => {
  it('gives the known sequence for seed 1', () => {
    const next = mulberry32(1);
    expect([next(), next(), next()]).toEqual([0.6270739405881613, 0.002735721180215478, 0.5274470399599522]);
  });
});

describe(sha256Seed.name, () => {
  it('reads the first four bytes of sha256 of the parts joined by "|", little endian', () => {
    expect(sha256Seed('anatomy', 7)).toBe(3552268720);
    expect(sha256Seed('noise', 3, 12)).toBe(2416739713);
  });
});

describe(fnv1aSeed.name, () => {
  it('is 32-bit FNV-1a with the top bit cleared', () => {
    expect(fnv1aSeed('')).toBe(0x811c9dc5 & 0x7fffffff);
    expect(fnv1aSeed('0/42/classifier/3/hospital-a')).toBe(1621429509);
  });
});

describe(withSeededRandom.name, () => {
  it('swaps Math.random for the call only', () => {
    const original = Math.random;
    expect(withSeededRandom(mulberry32(1), () => Math.random())).toBe(0.6270739405881613);
    expect(Math.random).toBe(original);
  });
});
