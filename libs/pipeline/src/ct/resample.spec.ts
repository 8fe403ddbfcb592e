import { describe, expect, it } from 'vitest';
import { antialiasResizeMatrix, cornerLinearMatrix, gaussianKernel, mirrorIndex, resamplePlaneSparse, resizeDepth } from './resample';

/** Dense reference of skimage resize along one axis: mirror-padded Gaussian, then linear at pixel centres. */
function referenceResize1d(input: number[], nOut: number): number[] {
  const n = input.length;
  const factor = n / nOut;
  const sigma = Math.max(0, (factor - 1) / 2);
  let blurred = input;
  if (sigma > 0) {
    const radius = Math.floor(4 * sigma + 0.5);
    const w: number[] = [];
    for (let k = -radius; k <= radius; k++) w.push(Math.exp(-(k * k) / (2 * sigma * sigma)));
    const s = w.reduce((a, b) => a + b, 0);
    blurred = input.map((_, i) => {
      let acc = 0;
      for (let k = -radius; k <= radius; k++) {
        let j = i + k;
        // mirror: reflect about the edge samples without repeating them
        while (j < 0 || j >= n) j = j < 0 ? -j : 2 * (n - 1) - j;
        acc += (w[k + radius] as number) * (input[j] as number);
      }
      return acc / s;
    });
  }
  const at = (j: number): number => {
    while (j < 0 || j >= n) j = j < 0 ? -j : 2 * (n - 1) - j;
    return blurred[j] as number;
  };
  return Array.from({ length: nOut }, (_, o) => {
    const c = (o + 0.5) * factor - 0.5;
    const i0 = Math.floor(c);
    const t = c - i0;
    return at(i0) * (1 - t) + at(i0 + 1) * t;
  });
}

function applyMatrix1d(input: number[], nOut: number): number[] {
  const m = antialiasResizeMatrix(input.length, nOut);
  const src = Float32Array.from(input);
  const out = new Float32Array(nOut);
  const tmp = new Float32Array(input.length);
  const ident = antialiasResizeMatrix(1, 1);
  // Treat the vector as a 1 × n plane: identity on y, the matrix on x.
  resamplePlaneSparse(src, ident, m, out, tmp);
  return Array.from(out);
}

describe(mirrorIndex.name, () => {
  it('reflects without repeating the edge sample (ndimage "mirror")', () => {
    expect([-3, -2, -1, 0, 1, 2, 3, 4, 5, 6].map((i) => mirrorIndex(i, 4))).toEqual([3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
    expect(mirrorIndex(7, 1)).toBe(0);
  });
});

describe(gaussianKernel.name, () => {
  it('matches scipy gaussian_filter1d taps for sigma 1 (truncate 4)', () => {
    const k = gaussianKernel(1);
    expect(k.length).toBe(9);
    // scipy.ndimage._gaussian_kernel1d(1, 0, 4)
    const expected = [0.00013383, 0.00443186, 0.05399112, 0.24197144, 0.39894346, 0.24197144, 0.05399112, 0.00443186, 0.00013383];
    expected.forEach((v, i) => expect(k[i]).toBeCloseTo(v, 6));
  });
});

describe(antialiasResizeMatrix.name, () => {
  it('equals a dense mirror-padded blur + linear resize when shrinking and enlarging', () => {
    let seed = 3;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (const [nIn, nOut] of [[358, 128], [300, 128], [100, 128], [7, 3], [128, 128], [240, 50]] as const) {
      const input = Array.from({ length: nIn }, () => rnd());
      const got = applyMatrix1d(input, nOut);
      const want = referenceResize1d(input, nOut);
      for (let i = 0; i < nOut; i++) expect(got[i]).toBeCloseTo(want[i] as number, 5);
    }
  });

  it('keeps a constant constant (rows sum to one)', () => {
    const m = antialiasResizeMatrix(331, 128);
    for (let o = 0; o < m.nOut; o++) {
      let s = 0;
      for (let k = 0; k < (m.length[o] as number); k++) s += m.weights[(m.offset[o] as number) + k] as number;
      expect(s).toBeCloseTo(1, 6);
    }
  });

  it('is the identity at the same size', () => {
    expect(applyMatrix1d([1, 5, 2, 8], 4)).toEqual([1, 5, 2, 8]);
  });
});

describe(cornerLinearMatrix.name, () => {
  it('maps corners to corners like scipy zoom (order 1)', () => {
    // 3 samples -> 5: positions 0, 0.5, 1, 1.5, 2
    const m = cornerLinearMatrix(3, 5);
    const input = [10, 20, 40];
    const out = Array.from({ length: 5 }, (_, o) => (input[m.i0[o] as number] as number) * (1 - (m.w1[o] as number)) + (input[m.i1[o] as number] as number) * (m.w1[o] as number));
    expect(out).toEqual([10, 15, 20, 30, 40]);
  });
});

describe(resizeDepth.name, () => {
  it('returns depth × y × x and keeps a constant volume constant', () => {
    const data = new Float32Array(120 * 2 * 3).fill(0.25);
    const out = resizeDepth({ data, shape: [120, 2, 3] }, 50);
    expect(out.length).toBe(50 * 6);
    for (const v of out) expect(v).toBeCloseTo(0.25, 6);
  });

  it('interpolates linearly when enlarging (no blur) at pixel centres', () => {
    // 2 slices [0, 1] -> 4: centres at -0.25, 0.25, 0.75, 1.25 -> mirror -> 0.25, 0.25, 0.75, 0.75
    const out = resizeDepth({ data: Float32Array.of(0, 1), shape: [2, 1, 1] }, 4);
    expect(Array.from(out)).toEqual([0.25, 0.25, 0.75, 0.75]);
  });

  it('matches the dense reference per voxel column when shrinking', () => {
    const z = 97;
    const column = Array.from({ length: z }, (_, i) => Math.sin(i / 3) + (i % 5) * 0.1);
    const data = new Float32Array(z * 2);
    column.forEach((v, i) => {
      data[2 * i] = v;
      data[2 * i + 1] = -v;
    });
    const out = resizeDepth({ data, shape: [z, 1, 2] }, 50);
    const want = referenceResize1d(column, 50);
    for (let o = 0; o < 50; o++) {
      expect(out[2 * o]).toBeCloseTo(want[o] as number, 5);
      expect(out[2 * o + 1]).toBeCloseTo(-(want[o] as number), 5);
    }
  });

  it('rejects a shape that does not match the data', () => {
    expect(() => resizeDepth({ data: new Float32Array(5), shape: [2, 2, 2] })).toThrow(RangeError);
  });
});
