import { describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { renderOverlayPng, representativeSlices } from './overlay';

describe(representativeSlices.name, () => {
  it('picks the slices with the most positive residual, spread apart, in z order', () => {
    const shape = [10, 2, 2] as const;
    const infection = new Float32Array(40);
    const put = (k: number, v: number) => infection.fill(v, k * 4, k * 4 + 4);
    put(7, 1);
    put(8, 0.9); // next to 7: too close when asking for 2 slices (gap 2)
    put(2, 0.5);
    put(5, -3); // negative residual does not count
    expect(representativeSlices(infection, shape, 2)).toEqual([2, 7]);
  });
});

describe(renderOverlayPng.name, () => {
  it('draws grey where there is no infection and red where there is', () => {
    const slice = new Float32Array(4).fill(0.5);
    const infection = Float32Array.from([0, 0, 0, 1]);
    const bytes = renderOverlayPng([{ slice, sliceHeight: 2, sliceWidth: 2, infection, infectionHeight: 2, infectionWidth: 2, label: 'a' }], 1, 1);
    const png = PNG.sync.read(bytes);
    expect([png.width, png.height]).toEqual([2, 2]);
    expect(Array.from(png.data.subarray(0, 4))).toEqual([128, 128, 128, 255]);
    const last = Array.from(png.data.subarray(12, 16));
    expect(last[0]).toBeGreaterThan(200);
    expect(last[2]).toBeLessThan(60);
  });
});
