import { PNG } from 'pngjs';

/** One sample for the report: a model-ready slice and its infection map (BCDU-Net residual). */
export interface SampleSlice {
  title: string;
  /** Slice values in [0, 1], row-major height × width. */
  slice: Float32Array;
  /** Residual x − BCDUNet(x) of the same slice (signed). */
  residual: Float32Array;
  height: number;
  width: number;
}

/**
 * Renders a slice (grey) beside the same slice with the positive residual overlaid in red, scaled up
 * by nearest neighbour to at least `minSize` pixels high, as a `data:image/png;base64,` URI.
 * The overlay's scale is the 99th percentile of |residual| so a few outliers do not wash it out.
 */
export function sliceWithInfectionPng(sample: SampleSlice, minSize = 192): string {
  const { height, width, slice, residual } = sample;
  if (slice.length !== height * width || residual.length !== height * width) {
    throw new RangeError(`sliceWithInfectionPng: expected ${height * width} values, got ${slice.length} and ${residual.length}`);
  }
  const scale = Math.max(1, Math.ceil(minSize / height));
  const gap = 4 * scale;
  const outW = width * 2 * scale + gap;
  const outH = height * scale;
  const png = new PNG({ width: outW, height: outH });
  png.data.fill(255);
  const magnitudes = Array.from(residual, (v) => Math.abs(v)).sort((a, b) => a - b);
  const ref = Math.max(1e-6, magnitudes[Math.floor(0.99 * (magnitudes.length - 1))] ?? 1);
  for (let y = 0; y < outH; y++) {
    const sy = Math.floor(y / scale);
    for (let x = 0; x < width * scale; x++) {
      const sx = Math.floor(x / scale);
      const i = sy * width + sx;
      const grey = Math.round(Math.max(0, Math.min(1, slice[i] ?? 0)) * 255);
      const left = (y * outW + x) * 4;
      png.data[left] = grey;
      png.data[left + 1] = grey;
      png.data[left + 2] = grey;
      png.data[left + 3] = 255;
      const a = Math.max(0, Math.min(1, (residual[i] ?? 0) / ref));
      const right = (y * outW + x + width * scale + gap) * 4;
      png.data[right] = Math.round(grey * (1 - a) + 255 * a);
      png.data[right + 1] = Math.round(grey * (1 - a) + 40 * a);
      png.data[right + 2] = Math.round(grey * (1 - a) + 20 * a);
      png.data[right + 3] = 255;
    }
  }
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}
