import type { Geometry2D } from './geometry';

/** Adds the patch-gradient rows [m0, m1) at `src` into dx (the inverse of im2col). */
export function col2imAdd(heap: Float32Array, src: number, dx: number, g: Geometry2D, m0: number, m1: number): void {
  const { h, w, ci, kh, kw, oh, ow, sh, sw, dh, dw, top, left } = g;
  const k = kh * kw * ci;
  let ox = m0 % ow;
  let oy = Math.floor(m0 / ow) % oh;
  let n = Math.floor(m0 / (ow * oh));
  let row = src;
  for (let m = m0; m < m1; m++) {
    let col = row;
    for (let fy = 0; fy < kh; fy++) {
      const iy = oy * sh + fy * dh - top;
      if (iy < 0 || iy >= h) {
        col += kw * ci;
        continue;
      }
      const rowBase = dx + (n * h + iy) * w * ci;
      for (let fx = 0; fx < kw; fx++) {
        const ix = ox * sw + fx * dw - left;
        if (ix >= 0 && ix < w) {
          const d = rowBase + ix * ci;
          for (let c = 0; c < ci; c++) heap[d + c] = (heap[d + c] ?? 0) + (heap[col + c] ?? 0);
        }
        col += ci;
      }
    }
    row += k;
    if (++ox === ow) {
      ox = 0;
      if (++oy === oh) {
        oy = 0;
        n++;
      }
    }
  }
}

/** Output pixels handled per block by {@link im2colT}: its reads and writes stay in cache. */
const IM2COL_BLOCK = 256;
const blockSources = new Int32Array(IM2COL_BLOCK);

/**
 * Fills the transposed patch matrix for output pixels [m0, m1): row (kh, kw, ci), column m - m0, at
 * `dst` (so `patches^T · dy` multiplies untransposed). Works in blocks of output pixels so that the
 * ci row streams it writes do not thrash the cache.
 */
export function im2colT(heap: Float32Array, x: number, dst: number, g: Geometry2D, m0: number, m1: number): void {
  const { h, w, ci, kh, kw, oh, ow, sh, sw, dh, dw, top, left } = g;
  const mc = m1 - m0;
  for (let b0 = m0; b0 < m1; b0 += IM2COL_BLOCK) {
    const b1 = Math.min(m1, b0 + IM2COL_BLOCK);
    const count = b1 - b0;
    for (let fy = 0; fy < kh; fy++) {
      for (let fx = 0; fx < kw; fx++) {
        let ox = b0 % ow;
        let oy = Math.floor(b0 / ow) % oh;
        let n = Math.floor(b0 / (ow * oh));
        for (let j = 0; j < count; j++) {
          const iy = oy * sh + fy * dh - top;
          const ix = ox * sw + fx * dw - left;
          blockSources[j] = iy < 0 || iy >= h || ix < 0 || ix >= w ? -1 : x + ((n * h + iy) * w + ix) * ci;
          if (++ox === ow) {
            ox = 0;
            if (++oy === oh) {
              oy = 0;
              n++;
            }
          }
        }
        const rowBase = dst + (fy * kw + fx) * ci * mc + (b0 - m0);
        for (let c = 0; c < ci; c++) {
          const row = rowBase + c * mc;
          for (let j = 0; j < count; j++) {
            const src = blockSources[j] ?? -1;
            heap[row + j] = src < 0 ? 0 : (heap[src + c] ?? 0);
          }
        }
      }
    }
  }
}
