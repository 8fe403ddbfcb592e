import { SecAggError } from '../errors';
import { sha256 } from '../bytes';
import { SECAGG_DOMAIN } from './secagg.constants';

/**
 * The public parameters of one secure aggregation round, identical at every site and the server
 * (the coordinator sends them with the round's task). Any difference makes the round fail.
 */
export interface SecAggParams {
  experiment: string;
  round: number;
  /** Every invited site → its long-term Ed25519 signing public key (base64), as enrolled. */
  sites: Record<string, string>;
  /**
   * SecAgg+ neighbour count k per site: each site masks and shares with k others, not all n - 1.
   * k >= n - 1 gives the complete graph of the original protocol; otherwise k must be even.
   * See {@link recommendedNeighbours}.
   */
  neighbours: number;
  /** Shamir threshold t: shares needed to rebuild one site's secret; degree/2 < t <= degree. */
  threshold: number;
  /** Number of model parameters d; the masked vector has d + 1 elements (the last is the sample count). */
  vectorLength: number;
  /** Each update value is clipped to [-clipRange, clipRange] before weighting and quantising. */
  clipRange: number;
  /** Upper bound on the sum of all sites' sample counts; sets the fixed-point scale (no overflow). */
  maxTotalWeight: number;
  /** Public random seed that places sites on the neighbour ring (chosen by the server per round). */
  graphSeed: string;
}

/** Headroom for rounding: up to 2^20 sites can each be off by half a unit without overflow. */
const ROUNDING_HEADROOM = 2 ** 20;

/**
 * The fixed-point scale: values are sent as round(x · w · scale) mod 2^32, chosen so that the sum
 * over all sites stays within a signed 32-bit integer: clipRange · maxTotalWeight · scale < 2^31.
 */
export function fixedPointScale(clipRange: number, maxTotalWeight: number): number {
  return (2 ** 31 - ROUNDING_HEADROOM) / (clipRange * maxTotalWeight);
}

/** SecAgg+ neighbour count for n sites: about 3·log2(n), even, and at most n - 1. */
export function recommendedNeighbours(siteCount: number): number {
  if (siteCount <= 1) return 0;
  const k = 2 * Math.ceil(1.5 * Math.log2(siteCount));
  return Math.min(siteCount - 1, k);
}

/** A threshold two thirds of the way up the neighbourhood: floor(2·degree/3) + 1. */
export function recommendedThreshold(degree: number): number {
  return Math.floor((2 * degree) / 3) + 1;
}

/** The ids of the invited sites, sorted (this order decides the sign of each pair mask). */
export function siteIds(params: SecAggParams): string[] {
  return Object.keys(params.sites).sort();
}

/** The number of neighbours each site has in the graph: min(neighbours, n - 1). */
export function graphDegree(params: SecAggParams): number {
  return Math.min(params.neighbours, Object.keys(params.sites).length - 1);
}

/** Throws {@link SecAggError} (`bad_params`) if the parameters are inconsistent. */
export function validateParams(params: SecAggParams): void {
  const fail = (why: string): never => {
    throw new SecAggError(`Invalid secure aggregation parameters: ${why}`, 'bad_params');
  };
  const n = Object.keys(params.sites).length;
  if (typeof params.experiment !== 'string' || params.experiment.length === 0) fail('experiment must be a non-empty string');
  if (!Number.isSafeInteger(params.round) || params.round < 0) fail('round must be a non-negative integer');
  if (n < 2) fail(`at least 2 sites are needed, got ${n}`);
  if (!Number.isSafeInteger(params.neighbours) || params.neighbours < 1) fail('neighbours must be a positive integer');
  const degree = graphDegree(params);
  if (degree < n - 1 && degree % 2 !== 0) fail(`neighbours must be even when smaller than n - 1 = ${n - 1}, got ${params.neighbours}`);
  if (degree > 255) fail('at most 255 neighbours per site (Shamir over GF(2^8))');
  if (!Number.isSafeInteger(params.threshold) || params.threshold <= degree / 2 || params.threshold > degree) {
    fail(`threshold must satisfy degree/2 < t <= degree (degree ${degree}), got ${params.threshold}`);
  }
  if (!Number.isSafeInteger(params.vectorLength) || params.vectorLength < 1) fail('vectorLength must be a positive integer');
  if (!(params.clipRange > 0) || !Number.isFinite(params.clipRange)) fail('clipRange must be a positive number');
  if (!Number.isSafeInteger(params.maxTotalWeight) || params.maxTotalWeight < 1 || params.maxTotalWeight >= 2 ** 32) {
    fail('maxTotalWeight must be an integer in [1, 2^32)');
  }
  if (fixedPointScale(params.clipRange, params.maxTotalWeight) < 1) fail('clipRange · maxTotalWeight is too large for 32-bit fixed point');
  if (typeof params.graphSeed !== 'string' || params.graphSeed.length === 0) fail('graphSeed must be a non-empty string');
}

/** SHA-256 binding every parameter; used as HKDF salt and signature context, so sites must agree. */
export function contextHash(params: SecAggParams): Uint8Array {
  const ids = siteIds(params);
  const canonical = JSON.stringify([
    params.experiment,
    params.round,
    ids.map((id) => [id, params.sites[id]]),
    params.neighbours,
    params.threshold,
    params.vectorLength,
    params.clipRange,
    params.maxTotalWeight,
    params.graphSeed,
  ]);
  return sha256(SECAGG_DOMAIN.context, canonical);
}

/**
 * The SecAgg+ neighbour graph: sites sit on a ring in the order of SHA-256(graph domain ‖ graphSeed ‖
 * id), and each is joined to the k/2 nearest on either side (everyone, if k >= n - 1). The graph is
 * symmetric. Returns the neighbours of every site, each list sorted.
 */
export function neighbourGraph(params: SecAggParams): Map<string, string[]> {
  const ids = siteIds(params);
  const degree = graphDegree(params);
  const graph = new Map<string, string[]>();
  if (degree >= ids.length - 1) {
    for (const id of ids) graph.set(id, ids.filter((o) => o !== id));
    return graph;
  }
  const keyed = ids.map((id) => ({ id, key: Buffer.from(sha256(SECAGG_DOMAIN.graph, params.graphSeed, '\u0000', id)).toString('hex') }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.id < b.id ? -1 : 1));
  const ring = keyed.map((k) => k.id);
  const n = ring.length;
  ring.forEach((id, p) => {
    const set = new Set<string>();
    for (let off = 1; off <= degree / 2; off++) {
      set.add(ring[(p + off) % n] as string);
      set.add(ring[(p - off + n) % n] as string);
    }
    graph.set(id, [...set].sort());
  });
  return graph;
}
