import { describe, expect, it } from 'vitest';
import { preprocessStudy, resampledSliceCount, windowNormalize } from './preprocess';
import type { CtStudy } from './types';

function study(slices: Float32Array[], rows: number, cols: number, spacing: [number, number, number], positions?: number[], shifts?: number[]): CtStudy {
  const plane = rows * cols;
  const hu = new Float32Array(slices.length * plane);
  slices.forEach((s, k) => hu.set(s, k * plane));
  const z = positions ?? slices.map((_, k) => k * spacing[0]);
  return {
    hu, shape: [slices.length, rows, cols], spacingMm: spacing, sourceSlices: slices.length,
    geometry: { positionsMm: Float64Array.from(z), inPlaneShiftMm: Float64Array.from(shifts ?? new Array<number>(2 * slices.length).fill(0)) },
    series: { seriesInstanceUid: 't', modality: 'CT', transferSyntax: 'test', slices: slices.length, rows, columns: cols, format: 'dicom' },
    otherSeries: [], warnings: [],
  };
}

describe(windowNormalize.name, () => {
  it('applies the paper window quirk and (HU + 1000) / 1400', () => {
    expect(windowNormalize(-1000)).toBe(0);
    expect(windowNormalize(400)).toBe(1);
    expect(windowNormalize(-300)).toBeCloseTo(0.5, 12);
    expect(windowNormalize(401)).toBe(0); // bone becomes air
    expect(windowNormalize(-1001)).toBe(0);
    expect(windowNormalize(0)).toBeCloseTo(1000 / 1400, 12);
  });
});

describe(resampledSliceCount.name, () => {
  it('matches round(n × spacing) for even spacing (60 × 5 mm → 300)', () => {
    expect(resampledSliceCount(Float64Array.from({ length: 60 }, (_, k) => 5 * k), 5)).toBe(300);
    expect(resampledSliceCount(Float64Array.from({ length: 30 }, (_, k) => 8 * k), 8)).toBe(240);
  });
});

describe(preprocessStudy.name, () => {
  it('warns when the series covers too little head to foot to hold the lungs, and not otherwise', async () => {
    const plane = new Float32Array(128 * 128).fill(-800);
    const two = await preprocessStudy(study([plane, plane], 128, 128, [8, 1, 1]));
    expect(two.warnings).toEqual([`the series covers only 8 mm head to foot (2 slices); adult lungs span about 200-300 mm: it may not show the whole lungs`]);
    const enough = await preprocessStudy(study(Array.from({ length: 21 }, () => plane), 128, 128, [5, 1, 1]));
    expect(enough.warnings).toEqual([]); // 100 mm
  });

  it('resamples z linearly (corner-aligned) from the slice positions, then windows and normalises', async () => {
    // 3 slices 2 mm apart, 128 × 128 at 1 mm: HU -1000, -800, -600 (constant in-plane).
    const plane = 128 * 128;
    const slices = [-1000, -800, -600].map((v) => new Float32Array(plane).fill(v));
    const v = await preprocessStudy(study(slices, 128, 128, [2, 1, 1]));
    expect(v.shape).toEqual([6, 128, 128]);
    // Output z positions: i × 4 / 5 mm; HU = -1000 + 100 z.
    for (let i = 0; i < 6; i++) {
      const hu = -1000 + 100 * ((i * 4) / 5);
      const expected = (hu + 1000) / 1400;
      expect(v.data[i * plane]).toBeCloseTo(expected, 5);
      expect(v.data[i * plane + plane - 1]).toBeCloseTo(expected, 5);
    }
    expect(v.spacingMm[0]).toBeCloseTo(0.8, 9);
  });

  it('windows after interpolation: bone between two air slices becomes air', async () => {
    const plane = 128 * 128;
    const v = await preprocessStudy(study([new Float32Array(plane).fill(1000), new Float32Array(plane).fill(1000)], 128, 128, [1, 1, 1]));
    expect(Math.max(...v.data)).toBe(0);
  });

  it('resizes in-plane with anti-aliasing: a 0.5 mm checkerboard averages to its mean', async () => {
    // 256 × 256 at 0.5 mm → 128 × 128 at 1 mm (linear, corner-aligned) → 128 (identity).
    const rows = 256;
    const s = new Float32Array(rows * rows);
    for (let i = 0; i < rows; i++) for (let j = 0; j < rows; j++) s[i * rows + j] = (i + j) % 2 ? -1000 : 400;
    const v = await preprocessStudy(study([s, s], rows, rows, [1, 0.5, 0.5]));
    expect(v.shape).toEqual([2, 128, 128]);
    let mean = 0;
    for (const x of v.data) mean += x / v.data.length;
    // corner-aligned 256→128 samples at 255/127 spacing: mixes both colours; the mean stays near 0.5
    expect(mean).toBeGreaterThan(0.4);
    expect(mean).toBeLessThan(0.6);
  });

  it('gives the same values from unevenly spaced slices as from the evenly spaced ones they sample', async () => {
    // A linear ramp along z sampled at uneven positions: linear interpolation reproduces the ramp exactly.
    const plane = 128 * 128;
    const zs = [0, 1, 3, 4, 7, 8];
    const ramp = (z: number): number => -1000 + 100 * z;
    const v = await preprocessStudy(study(zs.map((z) => new Float32Array(plane).fill(ramp(z))), 128, 128, [1, 1, 1], zs));
    expect(v.shape[0]).toBe(9);
    for (let i = 0; i < 9; i++) expect(v.data[i * plane + 77]).toBeCloseTo((ramp(i) + 1000) / 1400, 5);
  });

  it('shifts tilted slices back into line', async () => {
    // Slice k starts 4k mm further right (ImagePositionPatient), so a fixed column at x = 60..67 mm
    // sits at pixels 60 − 4k .. 67 − 4k.
    const rows = 128;
    const slices = [0, 1, 2].map((k) => {
      const s = new Float32Array(rows * rows).fill(-1000);
      for (let i = 0; i < rows; i++) for (let j = 60 - 4 * k; j < 68 - 4 * k; j++) s[i * rows + j] = 0;
      return s;
    });
    const v = await preprocessStudy(study(slices, rows, rows, [1, 1, 1], [0, 1, 2], [0, 0, 0, 4, 0, 8]));
    const plane = rows * rows;
    for (let k = 0; k < 3; k++) {
      expect(v.data[k * plane + 64 * rows + 63]).toBeCloseTo(1000 / 1400, 5);
      expect(v.data[k * plane + 64 * rows + 50]).toBeCloseTo(0, 5);
    }
  });
});
