import { mulberry32 } from '../random';

/** Parameters of one Perlin pseudo-infection (`covidctnet-spec.md` §3). */
export interface PerlinParams {
  /** Pixels per lattice cell of the first octave (paper: integer in [10, 29]). */
  scale: number;
  /** Amplitude ratio between octaves (paper: [-0.50, 0.49]; may be negative). */
  persistence: number;
  /** Seed of the lattice gradients. */
  seed: number;
  /** Octaves (paper 10). */
  octaves?: number;
  /** Frequency ratio between octaves (paper 2). */
  lacunarity?: number;
  /** Lattice period of the first octave, in lattice cells (paper 140). */
  period?: number;
}

const GRADIENTS: readonly [number, number][] = [
  [1, 1], [-1, 1], [1, -1], [-1, -1], [1, 0], [-1, 0], [0, 1], [0, -1],
];

/** A seeded permutation of 0..255, doubled so that lookups never wrap. */
export function permutation(seed: number): Uint8Array {
  const rng = mulberry32(seed);
  const p = new Uint8Array(512);
  for (let i = 0; i < 256; i++) p[i] = i;
  for (let i = 255; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = p[i] ?? 0;
    p[i] = p[j] ?? 0;
    p[j] = t;
  }
  for (let i = 0; i < 256; i++) p[256 + i] = p[i] ?? 0;
  return p;
}

function fade(t: number): number {
  return t * t * t * (t * (t * 6 - 15) + 10);
}

function grad(perm: Uint8Array, ix: number, iy: number, dx: number, dy: number): number {
  const h = (perm[(perm[ix & 255] ?? 0) + (iy & 255)] ?? 0) & 7;
  const g = GRADIENTS[h] ?? [1, 1];
  return g[0] * dx + g[1] * dy;
}

/**
 * One octave of 2-D gradient (Perlin) noise at (x, y), periodic with `period` lattice cells in both
 * directions; 0 at every lattice point, roughly within [-1, 1].
 */
export function perlin2(x: number, y: number, period: number, perm: Uint8Array): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const p = Math.max(1, Math.round(period));
  const i0 = ((x0 % p) + p) % p;
  const j0 = ((y0 % p) + p) % p;
  const i1 = (i0 + 1) % p;
  const j1 = (j0 + 1) % p;
  const n00 = grad(perm, i0, j0, fx, fy);
  const n10 = grad(perm, i1, j0, fx - 1, fy);
  const n01 = grad(perm, i0, j1, fx, fy - 1);
  const n11 = grad(perm, i1, j1, fx - 1, fy - 1);
  const u = fade(fx);
  const v = fade(fy);
  const a = n00 + u * (n10 - n00);
  const b = n01 + u * (n11 - n01);
  return a + v * (b - a);
}

/**
 * A size × size field of fractal Perlin noise (row-major, y then x): the octave sum divided by the
 * sum of the octave amplitudes, as the paper's noise library does. Deterministic for `params.seed`.
 */
export function perlinNoise2d(size: number, params: PerlinParams): Float32Array {
  const octaves = params.octaves ?? 10;
  const lacunarity = params.lacunarity ?? 2;
  const period = params.period ?? 140;
  const perm = permutation(params.seed);
  const out = new Float32Array(size * size);
  let ampSum = 0;
  for (let o = 0, amp = 1; o < octaves; o++, amp *= params.persistence) ampSum += amp;
  for (let yy = 0; yy < size; yy++) {
    for (let xx = 0; xx < size; xx++) {
      let total = 0;
      let freq = 1;
      let amp = 1;
      for (let o = 0; o < octaves; o++) {
        total += amp * perlin2((xx / params.scale) * freq, (yy / params.scale) * freq, period * freq, perm);
        freq *= lacunarity;
        amp *= params.persistence;
      }
      out[yy * size + xx] = ampSum !== 0 ? total / ampSum : 0;
    }
  }
  return out;
}

/** Draws the paper's per-slice parameters: scale ∈ [10, 29], persistence ∈ [-0.50, 0.49], a seed. */
export function randomPerlinParams(rng: () => number): PerlinParams {
  return {
    scale: 10 + Math.floor(rng() * 20),
    persistence: (Math.floor(rng() * 100) - 50) / 100,
    seed: Math.floor(rng() * 0x7fffffff),
  };
}

/** `image + noise` over the whole slice (no threshold, clip or mask), as the paper mixes them. */
export function addPerlinNoise(image: Float32Array, size: number, params: PerlinParams): Float32Array {
  if (image.length !== size * size) throw new RangeError(`image has ${image.length} values, expected ${size * size}`);
  const noise = perlinNoise2d(size, params);
  for (let i = 0; i < noise.length; i++) noise[i] = (image[i] ?? 0) + (noise[i] ?? 0);
  return noise;
}
