import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RDP_ORDERS,
  RdpAccountant,
  addGaussianNoise,
  clipL2,
  computeRdp,
  logA,
  logErfc,
  rdpToEpsilon,
  seededUniform,
} from './dp';
import { DpError } from './errors';

const within = (actual: number, expected: number, rel = 0.01) => expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rel * Math.abs(expected));

describe(clipL2.name, () => {
  it('scales an update with a larger norm down to exactly maxNorm, and leaves a smaller one alone', () => {
    const { clipped, norm, scale } = clipL2(new Float32Array([3, 4]), 1);
    expect(norm).toBe(5);
    expect(scale).toBeCloseTo(0.2, 12);
    expect([...clipped]).toEqual([Math.fround(0.6), Math.fround(0.8)]);
    const small = new Float32Array([0.3, 0.4]);
    const kept = clipL2(small, 1);
    expect(kept.scale).toBe(1);
    expect(kept.clipped).toEqual(small);
    expect(kept.clipped).not.toBe(small);
    expect(() => clipL2(small, 0)).toThrow(DpError);
    expect(() => clipL2(new Float32Array([Number.NaN]), 1)).toThrow(DpError);
  });
});

describe(addGaussianNoise.name, () => {
  it('adds zero-mean noise with the requested standard deviation, reproducibly for a seed', () => {
    const n = 200_000;
    const base = new Float32Array(n).fill(1);
    const noisy = addGaussianNoise(base, 0.5, seededUniform('noise'));
    let sum = 0;
    let sq = 0;
    let beyond2 = 0;
    for (const v of noisy) {
      const e = v - 1;
      sum += e;
      sq += e * e;
      if (Math.abs(e) > 1) beyond2++;
    }
    const mean = sum / n;
    const sd = Math.sqrt(sq / n - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.005); // 4.5 standard errors
    within(sd, 0.5, 0.01);
    within(beyond2 / n, 0.0455, 0.05); // P(|Z| > 2)
    expect(addGaussianNoise(base.subarray(0, 10), 0.5, seededUniform('noise'))).toEqual(noisy.subarray(0, 10));
    expect(base[0]).toBe(1);
  });

  it('uses a secure source by default (two calls differ) and rejects a negative stddev', () => {
    const a = addGaussianNoise(new Float32Array(4), 1);
    const b = addGaussianNoise(new Float32Array(4), 1);
    expect(a).not.toEqual(b);
    expect(() => addGaussianNoise(a, -1)).toThrow(DpError);
  });
});

describe(logErfc.name, () => {
  it('matches erfc at reference points and stays finite far in the tail', () => {
    // erfc values from Abramowitz & Stegun table 7.1 / standard tables
    within(Math.exp(logErfc(0)), 1, 1e-6);
    within(Math.exp(logErfc(0.5)), 0.4795001221869535, 1e-6);
    within(Math.exp(logErfc(1)), 0.15729920705028513, 1e-6);
    within(Math.exp(logErfc(3)), 2.209049699858544e-5, 1e-6);
    within(Math.exp(logErfc(-1)), 1.8427007929497148, 1e-6);
    // Asymptotic: erfc(x) ~ exp(-x²)/(x√π) (1 − 1/(2x²)) for large x
    const x = 40;
    within(logErfc(x), -x * x - Math.log(x * Math.sqrt(Math.PI)) + Math.log(1 - 1 / (2 * x * x) + 3 / (4 * x ** 4)), 1e-7);
  });
});

describe(computeRdp.name, () => {
  it('is the Gaussian closed form α/(2σ²) per step without subsampling', () => {
    expect(computeRdp(1, 10, 1, [20])).toEqual([0.1]);
    const orders = [1.5, 2, 8, 32.5];
    computeRdp(1, 1.3, 7, orders).forEach((r, i) => within(r, ((orders[i] ?? 0) * 7) / (2 * 1.3 * 1.3), 1e-12));
    expect(computeRdp(0, 10, 1, [20])).toEqual([0]);
  });

  it('matches the published subsampled-Gaussian values (TF Privacy rdp_accountant_test, Mironov et al.)', () => {
    within(computeRdp(0.1, 2, 10, [5])[0] ?? 0, 0.07737);
    const orders = [1.5, 2.5, 5, 50, 100];
    const expected = [0.00065, 0.001085, 0.00218075, 0.023846, 167.416307];
    const got = computeRdp(0.01, 2.5, 50, orders);
    got.forEach((r, i) => expect(Math.abs(r - (expected[i] ?? 0))).toBeLessThan(Math.max(1e-5, 0.01 * (expected[i] ?? 0))));
    // and within 1 % for those given to enough digits
    for (const i of [1, 2, 3, 4]) within(got[i] ?? 0, expected[i] ?? 0);
  });

  it('agrees with direct numerical integration of A_α (independent computation)', () => {
    // A_α = ∫ N(z; 0, σ²) ((1−q) + q·exp((2z−1)/(2σ²)))^α dz, by Simpson's rule on a wide grid.
    const integrate = (q: number, sigma: number, alpha: number) => {
      const lo = -12 * sigma - 5;
      const hi = 12 * sigma + 5 + alpha / sigma;
      const n = 200_000;
      const h = (hi - lo) / n;
      let s = 0;
      for (let k = 0; k <= n; k++) {
        const z = lo + k * h;
        const f = Math.exp(-(z * z) / (2 * sigma * sigma)) / (sigma * Math.sqrt(2 * Math.PI)) * ((1 - q) + q * Math.exp((2 * z - 1) / (2 * sigma * sigma))) ** alpha;
        s += f * (k === 0 || k === n ? 1 : k % 2 === 1 ? 4 : 2);
      }
      return Math.log((s * h) / 3);
    };
    for (const [q, sigma, alpha] of [
      [0.01, 10, 20],
      [0.1, 2, 5],
      [0.05, 1, 2.5],
      [0.2, 1.5, 7.3],
      [0.001, 1, 1.5],
    ] as const) {
      within(logA(q, sigma, alpha), integrate(q, sigma, alpha), 1e-4);
    }
  });
});

describe(rdpToEpsilon.name, () => {
  it('reproduces the hand-computed conversion for constant RDP (TF Privacy: 1.32783806176)', () => {
    const orders = Array.from({ length: 31 }, (_, i) => i + 2);
    const { epsilon, order } = rdpToEpsilon(orders, orders.map(() => 1.1), 1e-5);
    expect(order).toBe(32);
    expect(epsilon).toBeCloseTo(1.32783806176, 9);
  });

  it('gives ε = 1 at δ = 1e-6 for the Gaussian mechanism with σ = 4.530877117 (TF Privacy)', () => {
    const orders = Array.from({ length: 99_000 }, (_, i) => 0.001 * (i + 1000)).filter((a) => a > 1);
    const { epsilon } = rdpToEpsilon(orders, computeRdp(1, 4.530877117, 1, orders), 1e-6);
    within(epsilon, 1, 1e-4);
  });
});

describe(RdpAccountant.name, () => {
  it('composes steps additively and reports ε that grows with rounds', () => {
    const accountant = new RdpAccountant();
    expect(accountant.getEpsilon(1e-5)).toBe(0);
    accountant.step(1.1, 0.01, 1000);
    const e1 = accountant.getEpsilon(1e-5);
    accountant.step(1.1, 0.01, 1000);
    const e2 = accountant.getEpsilon(1e-5);
    expect(e2).toBeGreaterThan(e1);
    const once = new RdpAccountant().step(1.1, 0.01, 2000);
    within(e2, once.getEpsilon(1e-5), 1e-12);
    expect(RdpAccountant.fromHistory(accountant.history()).getRdp()).toEqual(accountant.getRdp());
  });

  it('matches the TF Privacy composition bound (ε ≤ 8.509656 for the two-phase example)', () => {
    const orders = [1.25, 1.5, 1.75, 2, 2.5, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 64, 256];
    const accountant = new RdpAccountant(orders).step(0.4, 1e-4, 40_000).step(2, 0.1, 100);
    const eps = accountant.getEpsilon(1e-5);
    expect(eps).toBeLessThanOrEqual(8.509656);
    expect(eps).toBeGreaterThan(7);
  });

  it('uses the Opacus default orders and rejects a bad δ', () => {
    expect(DEFAULT_RDP_ORDERS.length).toBe(151);
    expect(DEFAULT_RDP_ORDERS[0]).toBe(1.1);
    expect(DEFAULT_RDP_ORDERS[98]).toBe(10.9);
    expect(DEFAULT_RDP_ORDERS[150]).toBe(63);
    expect(() => new RdpAccountant().getEpsilon(0)).toThrow(DpError);
  });
});
