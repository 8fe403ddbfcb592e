import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../random';
import { addPerlinNoise, perlin2, perlinNoise2d, permutation, randomPerlinParams } from './perlin';

describe(perlinNoise2d.name, () => {
  it('is the same for the same seed and different for another seed', () => {
    const a = perlinNoise2d(32, { scale: 12, persistence: 0.3, seed: 5 });
    expect(perlinNoise2d(32, { scale: 12, persistence: 0.3, seed: 5 })).toEqual(a);
    expect(perlinNoise2d(32, { scale: 12, persistence: 0.3, seed: 6 })).not.toEqual(a);
  });

  it('is zero at lattice points and periodic with the lattice period', () => {
    const perm = permutation(3);
    expect(perlin2(4, 7, 140, perm)).toBe(0);
    for (const [x, y] of [[0.3, 0.7], [12.5, 99.25], [139.9, 0.1]] as const) {
      expect(perlin2(x + 140, y, 140, perm)).toBeCloseTo(perlin2(x, y, 140, perm), 12);
      expect(perlin2(x, y + 280, 140, perm)).toBeCloseTo(perlin2(x, y, 140, perm), 12);
    }
  });

  it('normalises the octave sum by the sum of amplitudes, also for negative persistence', () => {
    // With one octave the amplitude sum is 1: the field is the raw noise at x / scale.
    const one = perlinNoise2d(16, { scale: 10, persistence: -0.4, seed: 9, octaves: 1 });
    expect(one[3 * 16 + 5]).toBeCloseTo(perlin2(5 / 10, 3 / 10, 140, permutation(9)), 6);
    // Two octaves with persistence p: (n1 + p n2) / (1 + p).
    const p = -0.4;
    const two = perlinNoise2d(16, { scale: 10, persistence: p, seed: 9, octaves: 2 });
    const perm = permutation(9);
    const expected = (perlin2(0.5, 0.3, 140, perm) + p * perlin2(1.0, 0.6, 280, perm)) / (1 + p);
    expect(two[3 * 16 + 5]).toBeCloseTo(expected, 6);
  });

  it('stays bounded and is not flat for the paper parameter ranges', () => {
    const rng = mulberry32(1);
    for (let i = 0; i < 5; i++) {
      const params = randomPerlinParams(rng);
      expect(params.scale).toBeGreaterThanOrEqual(10);
      expect(params.scale).toBeLessThanOrEqual(29);
      expect(params.persistence).toBeGreaterThanOrEqual(-0.5);
      expect(params.persistence).toBeLessThanOrEqual(0.49);
      const field = perlinNoise2d(64, params);
      const max = Math.max(...field.map(Math.abs));
      expect(max).toBeLessThan(3);
      expect(max).toBeGreaterThan(0.01);
    }
  });

  it('adds the noise to the image without clipping', () => {
    const image = new Float32Array(16 * 16).fill(0.9);
    const params = { scale: 10, persistence: 0.2, seed: 4 };
    const noisy = addPerlinNoise(image, 16, params);
    const noise = perlinNoise2d(16, params);
    noisy.forEach((v, i) => expect(v).toBeCloseTo(0.9 + (noise[i] ?? 0), 6));
    expect(Math.max(...noisy)).toBeGreaterThan(0.9);
  });
});
