/** Identifying and descriptive fields of the series a study was read from. */
export interface SeriesInfo {
  seriesInstanceUid: string;
  studyInstanceUid?: string;
  patientId?: string;
  modality: string;
  manufacturer?: string;
  model?: string;
  description?: string;
  /** Transfer syntax UID of the pixel data ('nifti' for NIfTI files). */
  transferSyntax: string;
  /** Number of slices (frames) in the series as found, before any were dropped. */
  slices: number;
  rows: number;
  columns: number;
  /** 'dicom' or 'nifti'. */
  format: 'dicom' | 'nifti';
}

/** A series seen in the input but not used (another modality, fewer slices, not axial...). */
export interface OtherSeries {
  seriesInstanceUid: string;
  modality: string;
  slices: number;
  description?: string;
  reason: string;
}

/** Where each slice of a study lies; z is the slice normal, sorted ascending (inferior → superior). */
export interface StudyGeometry {
  /** Position of each slice along the slice normal, mm, ascending. */
  positionsMm: Float64Array;
  /**
   * In-plane shift of each slice relative to the first one, mm, as (row direction, column
   * direction) pairs: non-zero with gantry tilt or a shifted table. Length 2 × slices.
   */
  inPlaneShiftMm: Float64Array;
}

/** A CT study in Hounsfield units on its own grid. */
export interface CtStudy {
  /** HU, laid out (z, y, x): x fastest; z ascending along the slice normal. */
  hu: Float32Array;
  /** [slices, rows, columns]. */
  shape: [number, number, number];
  /** [slice spacing (median), row spacing, column spacing], mm. */
  spacingMm: [number, number, number];
  /** Number of source slices used. */
  sourceSlices: number;
  geometry: StudyGeometry;
  series: SeriesInfo;
  otherSeries: OtherSeries[];
  /** Everything that was corrected or is doubtful, one line each. */
  warnings: string[];
}

/** A volume ready for the models: values in [0, 1], slices of 128 × 128. */
export interface ModelReadyVolume {
  /** (z, 128, 128), x fastest. */
  data: Float32Array;
  shape: [number, number, number];
  /** Spacing of the output grid, mm (z is 1 mm up to rounding). */
  spacingMm: [number, number, number];
  warnings: string[];
}

/**
 * A series' scanner model as its header names it: manufacturer and model name (DICOM (0008,0070),
 * (0008,1090)), or '' when the header names neither (NIfTI, anonymised files). Sites group their studies
 * by it for site-local BatchNorm statistics.
 */
export function scannerName(series: Pick<SeriesInfo, 'manufacturer' | 'model'>): string {
  return [series.manufacturer?.trim(), series.model?.trim()].filter(Boolean).join(' ');
}
