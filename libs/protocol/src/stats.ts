/*
 * Interval estimates for the figures fedct reports (demo, federated evaluation): small, dependency-free
 * and checked against published values in stats.spec.ts.
 */

/** The standard normal quantile for a two-sided 95 % interval. */
export const Z95 = 1.959963984540054;

/**
 * Wilson score interval for a proportion `successes / n` (Wilson 1927; Newcombe 1998, method 3):
 * better than the normal approximation at small n and near 0 or 1, never outside [0, 1].
 * n = 0 gives [0, 1] (nothing is known).
 */
export function wilsonInterval(successes: number, n: number, z = Z95): [number, number] {
  if (!Number.isInteger(successes) || !Number.isInteger(n) || n < 0 || successes < 0 || successes > n) {
    throw new RangeError(`wilsonInterval needs integers 0 <= successes <= n, got ${successes} of ${n}`);
  }
  if (n === 0) return [0, 1];
  const p = successes / n;
  const z2 = z * z;
  const denominator = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denominator;
  // Exact ends where the interval touches them (rounding would otherwise give -1e-17).
  return [successes === 0 ? 0 : Math.max(0, centre - half), successes === n ? 1 : Math.min(1, centre + half)];
}
