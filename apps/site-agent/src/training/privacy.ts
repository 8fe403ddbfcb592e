import { addGaussianNoise, clipL2, RdpAccountant } from '@fedct/crypto';
import type { ModelBlob } from '@fedct/protocol';
import type { DatasetIndex } from '../data/dataset-index';
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


/**
 * The privacy a site has spent in one experiment, from an RDP accountant (@fedct/crypto) whose
 * history is kept in the dataset index (`meta` key `dp:<experiment>`, one entry per round so that a
 * round handled twice, e.g. after a restart, is counted once). Every round releases one update with
 * the Gaussian mechanism at sampling rate 1.
 */
export function privacyWithRound(index: DatasetIndex, experiment: string, round: number, noiseMultiplier: number, delta: number): { epsilon: number; commit(): void } {
  const key = `dp:${experiment}`;
  const rounds = JSON.parse(index.getMeta(key) ?? '{}') as Record<string, number>;
  const next = { ...rounds, [String(round)]: noiseMultiplier };
  const accountant = new RdpAccountant();
  for (const sigma of Object.values(next)) accountant.step(sigma, 1, 1);
  return { epsilon: accountant.getEpsilon(delta), commit: () => index.setMeta(key, JSON.stringify(next)) };
}
