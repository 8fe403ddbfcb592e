import { describe, expect, it } from 'vitest';
import { wilsonInterval } from './stats';

describe(wilsonInterval.name, () => {
  // Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score, no continuity correction).
  it.each([
    { x: 81, n: 263, lo: 0.2553, hi: 0.3662 },
    { x: 15, n: 148, lo: 0.0624, hi: 0.1605 },
    { x: 0, n: 20, lo: 0, hi: 0.1611 },
    { x: 1, n: 29, lo: 0.0061, hi: 0.1718 },
  ])('matches Newcombe\'s Table I for $x/$n', ({ x, n, lo, hi }) => {
    const [l, h] = wilsonInterval(x, n);
    expect(l).toBeCloseTo(lo, 4);
    expect(h).toBeCloseTo(hi, 4);
  });

  it('contains the point estimate, stays in [0, 1] and is symmetric in successes and failures', () => {
    for (let n = 1; n <= 40; n++) {
      for (let x = 0; x <= n; x++) {
        const [l, h] = wilsonInterval(x, n);
        expect(l).toBeGreaterThanOrEqual(0);
        expect(h).toBeLessThanOrEqual(1);
        expect(l).toBeLessThanOrEqual(x / n + 1e-12);
        expect(h).toBeGreaterThanOrEqual(x / n - 1e-12);
        const [l2, h2] = wilsonInterval(n - x, n);
        expect(l2).toBeCloseTo(1 - h, 12);
        expect(h2).toBeCloseTo(1 - l, 12);
      }
    }
  });

  it('knows nothing from no trials and refuses impossible counts', () => {
    expect(wilsonInterval(0, 0)).toEqual([0, 1]);
    expect(() => wilsonInterval(3, 2)).toThrow(RangeError);
    expect(() => wilsonInterval(1.5, 3)).toThrow(RangeError);
  });
});
