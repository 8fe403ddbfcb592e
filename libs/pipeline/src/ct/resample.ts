/**
 * Typed-array resampling kernels: linear interpolation on a corner-aligned grid (scipy `zoom`,
 * order 1) and anti-aliased resizing (skimage `resize`: Gaussian pre-blur with σ = (factor − 1) / 2,
 * mode 'reflect' = ndimage 'mirror', truncate 4, then linear interpolation on pixel centres).
 */

/** ndimage 'mirror' boundary: … c b | a b c d | c b … */
export function mirrorIndex(i: number, n: number): number {
  if (n <= 1) return 0;
  const period = 2 * (n - 1);
  let j = Math.abs(i) % period;
  if (j >= n) j = period - j;
  return j;
}

/**
 * A sparse resampling matrix (nOut × nIn): output o = Σ weights[offset[o] + k] · input[start[o] + k]
 * for k < length[o].
 */
export interface ResampleMatrix {
  nIn: number;
  nOut: number;
  start: Int32Array;
  length: Int32Array;
  offset: Int32Array;
  weights: Float32Array;
}

function toSparse(nIn: number, rows: Float64Array[]): ResampleMatrix {
  const nOut = rows.length;
  const start = new Int32Array(nOut);
  const length = new Int32Array(nOut);
  const offset = new Int32Array(nOut);
  let total = 0;
  const spans: [number, number][] = [];
  for (let o = 0; o < nOut; o++) {
    const row = rows[o] as Float64Array;
    let lo = 0;
    while (lo < nIn && row[lo] === 0) lo++;
    let hi = nIn - 1;
    while (hi > lo && row[hi] === 0) hi--;
    if (lo >= nIn) lo = hi = 0;
    spans.push([lo, hi]);
    start[o] = lo;
    length[o] = hi - lo + 1;
    offset[o] = total;
    total += hi - lo + 1;
  }
  const weights = new Float32Array(total);
  for (let o = 0; o < nOut; o++) {
    const [lo, hi] = spans[o] as [number, number];
    const row = rows[o] as Float64Array;
    for (let i = lo; i <= hi; i++) weights[(offset[o] ?? 0) + i - lo] = row[i] ?? 0;
  }
  return { nIn, nOut, start, length, offset, weights };
}

/** Normalised Gaussian taps for ndimage.gaussian_filter1d (truncate 4). */
export function gaussianKernel(sigma: number): Float64Array {
  if (!(sigma > 0)) return Float64Array.of(1);
  const radius = Math.floor(4 * sigma + 0.5);
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp((-0.5 * i * i) / (sigma * sigma));
    k[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i] = (k[i] ?? 0) / sum;
  return k;
}

/**
 * The matrix of skimage.transform.resize(order=1, anti_aliasing=True, mode='reflect') along one
 * axis from nIn to nOut samples: blur (only when shrinking), then linear interpolation at
 * (o + 0.5) · nIn / nOut − 0.5.
 */
export function antialiasResizeMatrix(nIn: number, nOut: number): ResampleMatrix {
  const factor = nIn / nOut;
  const kernel = gaussianKernel(Math.max(0, (factor - 1) / 2));
  const radius = (kernel.length - 1) / 2;
  const rows: Float64Array[] = [];
  for (let o = 0; o < nOut; o++) {
    const row = new Float64Array(nIn);
    const c = (o + 0.5) * factor - 0.5;
    const i0 = Math.floor(c);
    const w1 = c - i0;
    const taps: [number, number][] = [
      [i0, 1 - w1],
      [i0 + 1, w1],
    ];
    for (const [idx, w] of taps) {
      if (w === 0) continue;
      const centre = mirrorIndex(idx, nIn);
      for (let k = -radius; k <= radius; k++) {
        const m = mirrorIndex(centre + k, nIn);
        row[m] = (row[m] as number) + w * (kernel[k + radius] ?? 0);
      }
    }
    rows.push(row);
  }
  return toSparse(nIn, rows);
}

/** Linear weights on a corner-aligned grid (scipy.ndimage.zoom, order 1, edges clamped), shifted by `shift` input samples. */
export function cornerLinearMatrix(nIn: number, nOut: number, shift = 0): { i0: Int32Array; i1: Int32Array; w1: Float32Array } {
  const i0 = new Int32Array(nOut);
  const i1 = new Int32Array(nOut);
  const w1 = new Float32Array(nOut);
  const scale = nOut > 1 ? (nIn - 1) / (nOut - 1) : 0;
  for (let o = 0; o < nOut; o++) {
    let c = o * scale - shift;
    if (c < 0) c = 0;
    if (c > nIn - 1) c = nIn - 1;
    const a = Math.min(Math.floor(c), Math.max(0, nIn - 2));
    i0[o] = a;
    i1[o] = Math.min(a + 1, nIn - 1);
    w1[o] = nIn > 1 ? c - a : 0;
  }
  return { i0, i1, w1 };
}

/**
 * Bilinear resampling of one plane (rows × cols) onto (outRows × outCols) with corner-aligned
 * coordinates; `tmp` must hold outRows × cols floats.
 */
export function resamplePlaneLinear(
  src: Float32Array,
  rows: number,
  cols: number,
  ly: { i0: Int32Array; i1: Int32Array; w1: Float32Array },
  lx: { i0: Int32Array; i1: Int32Array; w1: Float32Array },
  out: Float32Array,
  tmp: Float32Array,
  srcOffset = 0,
): void {
  const outRows = ly.i0.length;
  const outCols = lx.i0.length;
  for (let o = 0; o < outRows; o++) {
    const a = srcOffset + (ly.i0[o] ?? 0) * cols;
    const b = srcOffset + (ly.i1[o] ?? 0) * cols;
    const w = ly.w1[o] ?? 0;
    const v = 1 - w;
    const t = o * cols;
    if (w === 0) {
      tmp.set(src.subarray(a, a + cols), t);
    } else {
      for (let x = 0; x < cols; x++) tmp[t + x] = (src[a + x] as number) * v + (src[b + x] as number) * w;
    }
  }
  const { i0, i1, w1 } = lx;
  for (let y = 0; y < outRows; y++) {
    const t = y * cols;
    const d = y * outCols;
    for (let x = 0; x < outCols; x++) {
      const w = w1[x] as number;
      out[d + x] = (tmp[t + (i0[x] as number)] as number) * (1 - w) + (tmp[t + (i1[x] as number)] as number) * w;
    }
  }
}

/** Applies separable sparse matrices to a plane: out (my.nOut × mx.nOut) = My · src · Mxᵀ; tmp holds my.nOut × mx.nIn. */
export function resamplePlaneSparse(
  src: Float32Array,
  my: ResampleMatrix,
  mx: ResampleMatrix,
  out: Float32Array,
  tmp: Float32Array,
  outOffset = 0,
): void {
  const cols = mx.nIn;
  for (let o = 0; o < my.nOut; o++) {
    const t = o * cols;
    const s = my.start[o] as number;
    const len = my.length[o] as number;
    const off = my.offset[o] as number;
    let w = my.weights[off] as number;
    let base = s * cols;
    for (let x = 0; x < cols; x++) tmp[t + x] = w * (src[base + x] as number);
    for (let k = 1; k < len; k++) {
      w = my.weights[off + k] as number;
      base = (s + k) * cols;
      for (let x = 0; x < cols; x++) tmp[t + x] = (tmp[t + x] as number) + w * (src[base + x] as number);
    }
  }
  const { start, length, offset, weights } = mx;
  for (let y = 0; y < my.nOut; y++) {
    const t = y * cols;
    const d = outOffset + y * mx.nOut;
    for (let x = 0; x < mx.nOut; x++) {
      const s = t + (start[x] as number);
      const off = offset[x] as number;
      const len = length[x] as number;
      let acc = 0;
      for (let k = 0; k < len; k++) acc += (weights[off + k] as number) * (tmp[s + k] as number);
      out[d + x] = acc;
    }
  }
}

/** A volume laid out (z, y, x), x fastest. */
export interface Volume {
  data: Float32Array;
  shape: readonly [number, number, number];
}

/**
 * Resizes a volume along z to `depth` slices (spec §4: anti-aliased when shrinking, then linear;
 * skimage resize semantics), keeping y and x. Returns (depth, y, x).
 */
export function resizeDepth(volume: Volume, depth = 50): Float32Array {
  const [z, y, x] = volume.shape;
  const plane = y * x;
  if (volume.data.length !== z * plane) throw new RangeError(`volume has ${volume.data.length} values, shape says ${z * plane}`);
  if (!(depth >= 1) || !Number.isInteger(depth)) throw new RangeError(`depth must be a positive integer, got ${depth}`);
  const m = antialiasResizeMatrix(z, depth);
  const out = new Float32Array(depth * plane);
  for (let o = 0; o < depth; o++) {
    const dst = out.subarray(o * plane, (o + 1) * plane);
    const s = m.start[o] as number;
    const off = m.offset[o] as number;
    for (let k = 0; k < (m.length[o] as number); k++) {
      const w = m.weights[off + k] as number;
      const src = volume.data.subarray((s + k) * plane, (s + k + 1) * plane);
      for (let i = 0; i < plane; i++) dst[i] = (dst[i] as number) + w * (src[i] as number);
    }
  }
  return out;
}
