import { randomBytes } from 'node:crypto';
import type { ModelBlob } from '@fedct/protocol';
import { SiteAgentError } from '../util/errors';

/** What was done to an update before it left the site. */
export interface PrivacyReport {
  /** L2 norm of (new − base) as trained. */
  deltaNorm: number;
  /** Clip norm applied (DP clip or the coordinator's norm bound); null: none. */
  clipNorm: number | null;
  /** Gaussian noise stddev added to every coordinate of the delta; 0: none. */
  noiseStddev: number;
}

/**
 * Applies differential privacy (and the coordinator's norm bound) to an update: delta = new − base is
 * clipped to `clipNorm` in L2, Gaussian noise of stddev `noiseMultiplier × clipNorm` is added to every
 * coordinate, and the result is base + delta. `random` is the noise source (seeded in tests).
 */
export function privatiseUpdate(
  base: ModelBlob,
  trained: ModelBlob,
  options: { dp: { clipNorm: number; noiseMultiplier: number } | null; normBound: number | null; random?: () => number },
): { weights: ModelBlob; report: PrivacyReport } {
  if (base.weights.length !== trained.weights.length) {
    throw new SiteAgentError(`trained model has ${trained.weights.length} weights, base has ${base.weights.length}`, 'shape_mismatch');
  }
  const delta = new Float32Array(base.weights.length);
  for (let i = 0; i < delta.length; i++) delta[i] = (trained.weights[i] ?? 0) - (base.weights[i] ?? 0);
  let deltaNorm = 0;
  for (const v of delta) deltaNorm += v * v;
  deltaNorm = Math.sqrt(deltaNorm);
  if (!options.dp && options.normBound === null) return { weights: trained, report: { deltaNorm, clipNorm: null, noiseStddev: 0 } };
  let out: Float32Array = delta;
  let noiseStddev = 0;
  if (options.dp) {
    out = clipL2(out, options.dp.clipNorm).clipped;
    noiseStddev = options.dp.noiseMultiplier * options.dp.clipNorm;
    if (noiseStddev > 0) out = addGaussianNoise(out, noiseStddev, ...(options.random ? [options.random] : []));
  }
  // The coordinator rejects updates above its bound; clipping after the noise is post-processing and
  // keeps the DP guarantee. The margin absorbs float32 rounding when the coordinator recomputes the delta.
  if (options.normBound !== null) out = clipL2(out, options.normBound * 0.999).clipped;
  const clipNorm = Math.min(options.dp?.clipNorm ?? Infinity, options.normBound ?? Infinity);
  const weights = new Float32Array(base.weights.length);
  for (let i = 0; i < weights.length; i++) weights[i] = (base.weights[i] ?? 0) + (out[i] ?? 0);
  return { weights: { manifest: trained.manifest, weights }, report: { deltaNorm, clipNorm, noiseStddev } };
}

// Interim: these two move to @fedct/crypto's dp module (clipL2 / addGaussianNoise) once it lands.
function clipL2(update: Float32Array, maxNorm: number): { clipped: Float32Array } {
  let sum = 0;
  for (const v of update) sum += v * v;
  const norm = Math.sqrt(sum);
  const scale = norm > maxNorm ? maxNorm / norm : 1;
  return { clipped: scale === 1 ? update : update.map((v) => v * scale) };
}

/** Uniform in (0, 1) from the operating system's secure source. */
function secureUniform(): number {
  const bytes = randomBytes(6);
  return (bytes.readUIntBE(0, 6) + 0.5) / 2 ** 48;
}

function addGaussianNoise(update: Float32Array, stddev: number, random: () => number = secureUniform): Float32Array {
  const out = new Float32Array(update.length);
  for (let i = 0; i < update.length; i += 2) {
    // Box–Muller: two independent standard normals per pair of uniforms.
    const r = Math.sqrt(-2 * Math.log(random())) * stddev;
    const t = 2 * Math.PI * random();
    out[i] = (update[i] ?? 0) + r * Math.cos(t);
    if (i + 1 < update.length) out[i + 1] = (update[i + 1] ?? 0) + r * Math.sin(t);
  }
  return out;
}
