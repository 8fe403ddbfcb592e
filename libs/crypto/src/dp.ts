/**
 * Differential privacy enforced at the site: L2 clipping, Gaussian noise from a secure source, and a
 * Rényi DP accountant for the (Poisson-)subsampled Gaussian mechanism (Mironov, Talwar & Zhang 2019,
 * "Rényi Differential Privacy of the Sampled Gaussian Mechanism"), converted to (ε, δ) with the
 * bound of Balle et al. 2020 / Canonne, Kamath & Steinke 2020 (as in TF Privacy and Opacus).
 *
 * Known limitation: noise is sampled in floating point (Box–Muller on 53-bit uniforms), which is
 * not a discrete Gaussian; floating-point attacks on the low bits (Mironov 2012) are not addressed.
 */
import { DpError } from './errors';
import { type RandomBytes, secureRandomBytes, seededRandomBytes } from './random';

/** A uniform random number in [0, 1). */
export type UniformRandom = () => number;

/** Uniform doubles in [0, 1) with 53 random bits each, drawn from `bytes` in 64 KiB blocks. */
export function uniformFromBytes(bytes: RandomBytes): UniformRandom {
  let pool: Uint8Array = new Uint8Array(0);
  let view = new DataView(pool.buffer);
  let offset = 0;
  return () => {
    if (offset + 8 > pool.length) {
      pool = bytes(65536);
      view = new DataView(pool.buffer, pool.byteOffset, pool.byteLength);
      offset = 0;
    }
    const hi = view.getUint32(offset) >>> 5; // 27 bits
    const lo = view.getUint32(offset + 4) >>> 6; // 26 bits
    offset += 8;
    return (hi * 67108864 + lo) / 9007199254740992;
  };
}

/** Uniform doubles from the operating system's secure random source (the default noise source). */
export function secureUniform(): UniformRandom {
  return uniformFromBytes(secureRandomBytes);
}

/** Reproducible uniform doubles for tests and simulations (never for real privacy). */
export function seededUniform(seed: Uint8Array | string | number): UniformRandom {
  return uniformFromBytes(seededRandomBytes(seed));
}

/**
 * Scales `update` so its L2 norm is at most `maxNorm` (a copy; the input is not changed).
 * Returns the clipped vector, the original norm, and the factor applied (1 if it was within bounds).
 */
export function clipL2(update: Float32Array, maxNorm: number): { clipped: Float32Array; norm: number; scale: number } {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) throw new DpError(`clipL2: maxNorm must be a positive number, got ${maxNorm}`);
  let sum = 0;
  for (let i = 0; i < update.length; i++) {
    const v = update[i] as number;
    sum += v * v;
  }
  const norm = Math.sqrt(sum);
  if (!Number.isFinite(norm)) throw new DpError('clipL2: the update holds a non-finite value');
  const scale = norm > maxNorm ? maxNorm / norm : 1;
  const clipped = new Float32Array(update.length);
  if (scale === 1) clipped.set(update);
  else for (let i = 0; i < update.length; i++) clipped[i] = (update[i] as number) * scale;
  return { clipped, norm, scale };
}

/**
 * Returns `update` plus independent N(0, stddev²) noise on every element (a copy). `random` is a
 * uniform source in [0, 1); the default is cryptographically secure. Box–Muller, two normals per pair.
 */
export function addGaussianNoise(update: Float32Array, stddev: number, random: UniformRandom = secureUniform()): Float32Array {
  if (!(stddev >= 0) || !Number.isFinite(stddev)) throw new DpError(`addGaussianNoise: stddev must be a non-negative number, got ${stddev}`);
  const out = new Float32Array(update);
  if (stddev === 0) return out;
  for (let i = 0; i < out.length; i += 2) {
    const r = stddev * Math.sqrt(-2 * Math.log(1 - random()));
    const theta = 2 * Math.PI * random();
    out[i] = (out[i] as number) + r * Math.cos(theta);
    if (i + 1 < out.length) out[i + 1] = (out[i + 1] as number) + r * Math.sin(theta);
  }
  return out;
}

/** Default Rényi orders (as in Opacus): 1.1, 1.2, ..., 10.9 and 12, 13, ..., 63. */
export const DEFAULT_RDP_ORDERS: readonly number[] = [
  ...Array.from({ length: 99 }, (_, x) => Math.round((1 + (x + 1) / 10) * 10) / 10),
  ...Array.from({ length: 52 }, (_, x) => 12 + x),
];

function logAdd(x: number, y: number): number {
  const a = Math.min(x, y);
  const b = Math.max(x, y);
  if (a === -Infinity) return b;
  return Math.log1p(Math.exp(a - b)) + b;
}

function logSub(x: number, y: number): number {
  if (x < y) throw new DpError('logSub: the result would be negative');
  if (y === -Infinity) return x;
  if (x === y) return -Infinity;
  const d = Math.expm1(x - y);
  return Number.isFinite(d) ? Math.log(d) + y : x;
}

/**
 * log(erfc(x)), accurate to about 1e-7 relative error for any x, computed in log space so large x
 * does not underflow (Numerical Recipes' Chebyshev-fitted erfc).
 */
export function logErfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const poly =
    -z * z -
    1.26551223 +
    t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const logErfcAbs = Math.log(t) + poly;
  return x >= 0 ? logErfcAbs : Math.log(2 - Math.exp(logErfcAbs));
}

function logBinomialInt(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
  return s;
}

/** log A_α for integer α: the binomial expansion of Mironov et al. 2019, Section 3.3. */
function logAInt(q: number, sigma: number, alpha: number): number {
  let logA = -Infinity;
  for (let i = 0; i <= alpha; i++) {
    const logCoef = logBinomialInt(alpha, i) + i * Math.log(q) + (alpha - i) * Math.log(1 - q);
    logA = logAdd(logA, logCoef + (i * i - i) / (2 * sigma * sigma));
  }
  return logA;
}

/** log A_α for fractional α: the two-sided series of Mironov et al. 2019, Section 3.3. */
function logAFrac(q: number, sigma: number, alpha: number): number {
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  let coef = 1; // generalised binomial coefficient C(alpha, i)
  for (let i = 0; i < 10_000; i++) {
    if (i > 0) coef *= (alpha - i + 1) / i;
    const logCoef = Math.log(Math.abs(coef));
    const j = alpha - i;
    const logT0 = logCoef + i * Math.log(q) + j * Math.log(1 - q);
    const logT1 = logCoef + j * Math.log(q) + i * Math.log(1 - q);
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma));
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma));
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
    if (coef > 0) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
    }
    if (Math.max(logS0, logS1) < -30) break;
  }
  return logAdd(logA0, logA1);
}

/** log A_α = log E_{z∼N(0,σ²)}[((1−q) + q·e^{(2z−1)/(2σ²)})^α] (exported for tests). */
export function logA(q: number, sigma: number, alpha: number): number {
  return Number.isInteger(alpha) ? logAInt(q, sigma, alpha) : logAFrac(q, sigma, alpha);
}

/**
 * RDP of `steps` compositions of the Poisson-subsampled Gaussian mechanism with sampling rate `q`
 * and noise multiplier σ (noise stddev / L2 sensitivity), at each of `orders`.
 * For q = 1 this is the Gaussian mechanism's closed form α·steps/(2σ²).
 */
export function computeRdp(q: number, noiseMultiplier: number, steps: number, orders: readonly number[]): number[] {
  if (!(q >= 0 && q <= 1)) throw new DpError(`samplingRate must be in [0, 1], got ${q}`);
  if (!(noiseMultiplier >= 0)) throw new DpError(`noiseMultiplier must be non-negative, got ${noiseMultiplier}`);
  if (!Number.isInteger(steps) || steps < 0) throw new DpError(`steps must be a non-negative integer, got ${steps}`);
  return orders.map((alpha) => {
    if (!(alpha > 1)) throw new DpError(`Rényi orders must be > 1, got ${alpha}`);
    let rdp: number;
    if (q === 0 || steps === 0) rdp = 0;
    else if (noiseMultiplier === 0 || alpha === Infinity) rdp = Infinity;
    else if (q === 1) rdp = alpha / (2 * noiseMultiplier * noiseMultiplier);
    else rdp = logA(q, noiseMultiplier, alpha) / (alpha - 1);
    return rdp * steps;
  });
}

/**
 * The smallest ε over the orders such that the mechanism is (ε, δ)-DP:
 * ε = min_α rdp(α) + log((α−1)/α) − (log δ + log α)/(α − 1) (Balle et al. 2020, Theorem 21).
 */
export function rdpToEpsilon(orders: readonly number[], rdp: readonly number[], delta: number): { epsilon: number; order: number } {
  if (!(delta > 0 && delta < 1)) throw new DpError(`delta must be in (0, 1), got ${delta}`);
  if (rdp.every((r) => r === 0)) return { epsilon: 0, order: orders[orders.length - 1] ?? Number.NaN };
  let best = { epsilon: Infinity, order: Number.NaN };
  orders.forEach((alpha, i) => {
    const r = rdp[i] ?? Infinity;
    const eps = r + Math.log((alpha - 1) / alpha) - (Math.log(delta) + Math.log(alpha)) / (alpha - 1);
    if (eps < best.epsilon) best = { epsilon: eps, order: alpha };
  });
  return { epsilon: Math.max(0, best.epsilon), order: best.order };
}

/** One accounted release: `steps` runs of the Gaussian mechanism at sampling rate `samplingRate`. */
export interface RdpStep {
  noiseMultiplier: number;
  samplingRate: number;
  steps: number;
}

/**
 * Tracks the privacy spent over rounds. Each {@link RdpAccountant.step} adds the RDP of `steps`
 * Poisson-subsampled Gaussian releases; {@link RdpAccountant.getEpsilon} reports ε for a δ.
 * The history is plain JSON, so a site can persist it and rebuild the accountant with `fromHistory`.
 */
export class RdpAccountant {
  private readonly rdp: number[];
  private readonly steps: RdpStep[] = [];

  constructor(readonly orders: readonly number[] = DEFAULT_RDP_ORDERS) {
    if (orders.length === 0) throw new DpError('RdpAccountant: at least one order is needed');
    this.rdp = orders.map(() => 0);
  }

  /** Rebuilds an accountant from {@link RdpAccountant.history}. */
  static fromHistory(history: readonly RdpStep[], orders: readonly number[] = DEFAULT_RDP_ORDERS): RdpAccountant {
    const accountant = new RdpAccountant(orders);
    for (const s of history) accountant.step(s.noiseMultiplier, s.samplingRate, s.steps);
    return accountant;
  }

  /** Accounts for `steps` releases with noise multiplier σ and sampling rate q; returns `this`. */
  step(noiseMultiplier: number, samplingRate: number, steps = 1): this {
    const add = computeRdp(samplingRate, noiseMultiplier, steps, this.orders);
    add.forEach((v, i) => {
      this.rdp[i] = (this.rdp[i] ?? 0) + v;
    });
    this.steps.push({ noiseMultiplier, samplingRate, steps });
    return this;
  }

  /** The accumulated RDP at each order. */
  getRdp(): number[] {
    return [...this.rdp];
  }

  /** Everything accounted so far, in order. */
  history(): RdpStep[] {
    return this.steps.map((s) => ({ ...s }));
  }

  /** ε such that everything accounted so far is (ε, δ)-DP, and the order that gives it. */
  getPrivacySpent(delta: number): { epsilon: number; order: number } {
    return rdpToEpsilon(this.orders, this.rdp, delta);
  }

  /** ε such that everything accounted so far is (ε, δ)-DP (0 before any step). */
  getEpsilon(delta: number): number {
    return this.getPrivacySpent(delta).epsilon;
  }
}
