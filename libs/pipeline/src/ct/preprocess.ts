/** The paper's preprocessing (covidctnet-spec.md §1), streamed slice by slice. */
import { openStudy, studySource, type ReadStudyOptions, type SliceSource } from './read-study';
import { antialiasResizeMatrix, cornerLinearMatrix, resamplePlaneLinear, resamplePlaneSparse } from './resample';
import type { CtStudy, ModelReadyVolume, OtherSeries, SeriesInfo } from './types';

/** Options for preprocessing; the defaults are the paper profile. */
export interface PreprocessOptions {
  /** Output slice size (square), default 128. */
  size?: number;
  /** Isotropic resampling step, mm, default 1. */
  spacingMm?: number;
  /** Called after each output slice. */
  onProgress?: (done: number, total: number) => void;
}

/** HU window of the paper: values above 400 or below -1000 become -1000 (bone and contrast become air). */
export const HU_WINDOW = { min: -1000, max: 400 } as const;

/** Spec §1 steps 4–5 for one HU value: window quirk, then (HU + 1000) / 1400 clipped to [0, 1]. */
export function windowNormalize(hu: number): number {
  const v = hu > HU_WINDOW.max || hu < HU_WINDOW.min ? HU_WINDOW.min : hu;
  const n = (v - HU_WINDOW.min) / (HU_WINDOW.max - HU_WINDOW.min);
  return n < 0 ? 0 : n > 1 ? 1 : n;
}

/** Number of slices after resampling to `step` mm: round((last − first + median spacing) / step), at least 2. */
export function resampledSliceCount(positionsMm: Float64Array, medianSpacingMm: number, step = 1): number {
  const extent = (positionsMm[positionsMm.length - 1] ?? 0) - (positionsMm[0] ?? 0);
  return Math.max(2, Math.round((extent + medianSpacingMm) / step));
}

/**
 * Runs spec §1 on a slice source: trilinear resampling to 1 mm (corner-aligned like scipy zoom, from
 * the real slice positions, tilt shifts applied), the HU window quirk, normalisation to [0, 1] and
 * the anti-aliased resize of every slice to 128 × 128. Holds two resampled slices at a time.
 */
export async function preprocessSource(source: SliceSource, options: PreprocessOptions = {}): Promise<ModelReadyVolume> {
  const size = options.size ?? 128;
  const step = options.spacingMm ?? 1;
  const { rows, columns, slices, geometry } = source;
  const [dz, dy, dx] = source.spacingMm;
  const positions = geometry.positionsMm;
  const rowsOut = Math.max(2, Math.round((rows * dy) / step));
  const colsOut = Math.max(2, Math.round((columns * dx) / step));
  const zOut = resampledSliceCount(positions, dz, step);
  const p0 = positions[0] ?? 0;
  const extent = (positions[slices - 1] ?? 0) - p0;

  const baseY = cornerLinearMatrix(rows, rowsOut);
  const baseX = cornerLinearMatrix(columns, colsOut);
  const aaY = antialiasResizeMatrix(rowsOut, size);
  const aaX = antialiasResizeMatrix(colsOut, size);
  const raw = new Float32Array(rows * columns);
  const tmpLinear = new Float32Array(rowsOut * columns);
  const tmpResize = new Float32Array(size * colsOut);
  const planeArea = rowsOut * colsOut;
  const planes = [new Float32Array(planeArea), new Float32Array(planeArea)];
  const mixed = new Float32Array(planeArea);
  const slots = [-1, -1];
  const out = new Float32Array(zOut * size * size);

  const load = async (k: number): Promise<Float32Array> => {
    if (slots[0] === k) return planes[0] as Float32Array;
    if (slots[1] === k) return planes[1] as Float32Array;
    // Reuse the slot holding the older slice.
    const slot = slots[0] === -1 || (slots[1] !== -1 && (slots[0] ?? 0) < (slots[1] ?? 0)) ? 0 : 1;
    await source.read(k, raw, 0);
    const sy = geometry.inPlaneShiftMm[2 * k] ?? 0;
    const sx = geometry.inPlaneShiftMm[2 * k + 1] ?? 0;
    const ly = sy === 0 ? baseY : cornerLinearMatrix(rows, rowsOut, sy / dy);
    const lx = sx === 0 ? baseX : cornerLinearMatrix(columns, colsOut, sx / dx);
    const plane = planes[slot] as Float32Array;
    resamplePlaneLinear(raw, rows, columns, ly, lx, plane, tmpLinear);
    slots[slot] = k;
    return plane;
  };

  let k = 0;
  for (let i = 0; i < zOut; i++) {
    const q = p0 + (zOut > 1 ? (i * extent) / (zOut - 1) : 0);
    while (k < slices - 2 && (positions[k + 1] ?? 0) < q) k++;
    const pa = positions[k] ?? 0;
    const pb = positions[k + 1] ?? pa;
    let t = pb > pa ? (q - pa) / (pb - pa) : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    const a = await load(k);
    const b = t > 0 ? await load(k + 1) : a;
    mixWindowNormalize(a, b, t, mixed);
    resamplePlaneSparse(mixed, aaY, aaX, out, tmpResize, i * size * size);
    options.onProgress?.(i + 1, zOut);
  }
  return {
    data: out,
    shape: [zOut, size, size],
    spacingMm: [zOut > 1 ? extent / (zOut - 1) : step, (rows * dy) / size, (columns * dx) / size],
    warnings: [...source.warnings, ...coverageWarning(extent, slices)],
  };
}

/** Below this head-to-foot extent a series is unlikely to hold both lungs (adult lungs span about 200-300 mm). */
export const MIN_COVERAGE_MM = 100;

function coverageWarning(extentMm: number, slices: number): string[] {
  if (extentMm >= MIN_COVERAGE_MM) return [];
  return [`the series covers only ${extentMm.toFixed(0)} mm head to foot (${slices} slice${slices === 1 ? '' : 's'}); adult lungs span about 200-300 mm: it may not show the whole lungs`];
}

/** out = windowNormalize((1 − t)·a + t·b), elementwise (spec §1 steps 3–5 on one output slice). */
function mixWindowNormalize(a: Float32Array, b: Float32Array, t: number, out: Float32Array): void {
  const lo = HU_WINDOW.min;
  const hi = HU_WINDOW.max;
  const scale = 1 / (hi - lo);
  const ta = 1 - t;
  const n = out.length;
  for (let j = 0; j < n; j++) {
    let v = (a[j] as number) * ta + (b[j] as number) * t;
    if (v > hi || v < lo) v = lo;
    out[j] = (v - lo) * scale;
  }
}

/** Spec §1 on a study already in memory (see preprocessSource). */
export function preprocessStudy(study: CtStudy, options: PreprocessOptions = {}): Promise<ModelReadyVolume> {
  return preprocessSource(studySource(study), options);
}

/** A model-ready volume plus where it came from. */
export interface PreprocessedStudy extends ModelReadyVolume {
  sourceSlices: number;
  series: SeriesInfo;
  otherSeries: OtherSeries[];
}

/**
 * Reads and preprocesses a study from a folder, files or a NIfTI file without holding the whole HU
 * volume in memory (two resampled slices at a time). Throws DicomError for unusable input.
 */
export async function preprocessPath(
  input: string | string[],
  options: PreprocessOptions & ReadStudyOptions = {},
): Promise<PreprocessedStudy> {
  const source = await openStudy(input, options);
  const volume = await preprocessSource(source, options);
  return { ...volume, sourceSlices: source.slices, series: source.series, otherSeries: source.otherSeries };
}
