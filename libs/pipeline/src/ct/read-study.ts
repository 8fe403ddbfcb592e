/** Reading a CT study from DICOM files or a NIfTI volume (issue 3 steps 1–4). */
import { closeSync, fstatSync, openSync, readdirSync, readSync, realpathSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkPixelFormat, parseDicomBuffer, readFrameHu, type FrameHeader, type ParsedDicom } from './dicom-file';
import { DicomError } from './errors';
import { sortSeries, obliquityDegrees, MAX_OBLIQUITY_DEGREES, type SortedSeries } from './geometry';
import { readNifti } from './nifti';
import type { CtStudy, OtherSeries, SeriesInfo, StudyGeometry } from './types';

/** Options for readStudy / openStudy. */
export interface ReadStudyOptions {
  /** Use this series instead of the automatic choice. */
  seriesInstanceUid?: string;
}

/**
 * A study's slices, sorted, that can be read one at a time (the streaming form of a CtStudy).
 * `read(k, out, offset)` writes slice k's HU (rows × columns) into `out`.
 */
export interface SliceSource {
  rows: number;
  columns: number;
  slices: number;
  /** [median slice spacing, row spacing, column spacing], mm. */
  spacingMm: [number, number, number];
  geometry: StudyGeometry;
  series: SeriesInfo;
  otherSeries: OtherSeries[];
  warnings: string[];
  read(k: number, out: Float32Array, offset?: number): Promise<void>;
}

/**
 * Reads whole files into one reused buffer (grown as needed), so that streaming a series allocates
 * nothing per slice. The returned view is valid until the next call.
 */
class FileReader {
  private pool = Buffer.alloc(0);
  read(file: string): Buffer {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size > this.pool.length) this.pool = Buffer.allocUnsafe(Math.max(size, Math.ceil(this.pool.length * 1.5)));
      let done = 0;
      while (done < size) {
        const n = readSync(fd, this.pool, done, size - done, done);
        if (n === 0) break;
        done += n;
      }
      return this.pool.subarray(0, done);
    } finally {
      closeSync(fd);
    }
  }
}

function isNiftiPath(p: string): boolean {
  return /\.nii(\.gz)?$/i.test(p);
}

/**
 * The files under `inputs`, sorted per folder. Symbolic links are followed (PACS exports and mounted
 * shares are often folders of links), each folder once by its real path, so a link loop ends; a
 * dangling link is skipped.
 */
function listFiles(inputs: string[]): string[] {
  const files: string[] = [];
  const seen = new Set<string>();
  const walk = (dir: string): void => {
    const real = realpathSync(dir);
    if (seen.has(real)) return;
    seen.add(real);
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, entry.name);
      const kind = entry.isSymbolicLink() ? statSync(p, { throwIfNoEntry: false }) : entry;
      if (!kind) continue;
      if (kind.isDirectory()) walk(p);
      else if (kind.isFile()) files.push(p);
    }
  };
  for (const input of inputs) {
    const p = resolve(input);
    let st;
    try {
      st = statSync(p);
    } catch (error) {
      throw new DicomError(`${input} does not exist`, 'not_found', { cause: error, file: input });
    }
    if (st.isDirectory()) walk(p);
    else files.push(p);
  }
  return files;
}

const SKIP_NAMES = /^(license|licence|readme|dicomdir)(\..*)?$|\.(txt|md|json|csv|xml|html?|png|jpe?g|pdf|zip)$/i;

interface Scan {
  frames: FrameHeader[];
  skipped: { file: string; error: DicomError }[];
  niftiFiles: string[];
}

function scanFiles(files: string[]): Scan {
  const frames: FrameHeader[] = [];
  const skipped: Scan['skipped'] = [];
  const niftiFiles: string[] = [];
  const reader = new FileReader();
  for (const file of files) {
    if (isNiftiPath(file)) {
      niftiFiles.push(file);
      continue;
    }
    const base = file.split(/[\\/]/).pop() ?? file;
    if (SKIP_NAMES.test(base) && files.length > 1) continue;
    try {
      const parsed = parseDicomBuffer(reader.read(file), file);
      checkPixelLength(parsed);
      frames.push(...parsed.frames);
    } catch (error) {
      if (error instanceof DicomError) skipped.push({ file, error });
      else skipped.push({ file, error: new DicomError(`${file} could not be read: ${String(error)}`, 'not_dicom', { cause: error, file }) });
    }
  }
  return { frames, skipped, niftiFiles };
}

/** Flags files whose native pixel data is shorter than the image size says (truncated copies). */
function checkPixelLength(parsed: ParsedDicom): void {
  const h = parsed.frames[0];
  const el = parsed.dataSet.elements.x7fe00010;
  if (!h || !el || el.encapsulatedPixelData) return;
  const expected = (h.rows * h.columns * h.samplesPerPixel * h.bitsAllocated * h.numberOfFrames) / 8;
  if (el.dataOffset + expected > parsed.dataSet.byteArray.length || (el.length < expected && el.length !== 0xffffffff)) {
    throw new DicomError(`${h.file} is truncated: its pixel data is shorter than the image size`, 'truncated', { file: h.file });
  }
}

interface Candidate {
  uid: string;
  frames: FrameHeader[];
  reason?: string;
}

function describeSeries(c: Candidate): OtherSeries {
  const f = c.frames[0];
  return {
    seriesInstanceUid: c.uid,
    modality: f?.modality ?? 'unknown',
    slices: c.frames.length,
    ...(f?.description ? { description: f.description } : {}),
    reason: c.reason ?? 'fewer slices than the series used',
  };
}

function chooseSeries(frames: FrameHeader[], options: ReadStudyOptions): { chosen: Candidate; others: OtherSeries[]; warnings: string[] } {
  const bySeries = new Map<string, FrameHeader[]>();
  for (const f of frames) {
    const list = bySeries.get(f.seriesInstanceUid);
    if (list) list.push(f);
    else bySeries.set(f.seriesInstanceUid, [f]);
  }
  const candidates: Candidate[] = [...bySeries].map(([uid, fs]) => ({ uid, frames: fs }));
  const warnings: string[] = [];
  for (const c of candidates) {
    const f = c.frames[0];
    if (!f) continue;
    const modality = f.modality?.toUpperCase();
    if (modality !== undefined && modality !== 'CT') c.reason = `modality ${modality}, not CT`;
    else if (c.frames.every((x) => !x.hasPixelData)) c.reason = 'no pixel data';
    else if (f.imageType.includes('LOCALIZER')) c.reason = 'localizer (scout) image';
    else if (f.imageOrientation && obliquityDegrees(f.imageOrientation) > MAX_OBLIQUITY_DEGREES) c.reason = 'not axial';
  }
  let chosen: Candidate | undefined;
  if (options.seriesInstanceUid !== undefined) {
    chosen = candidates.find((c) => c.uid === options.seriesInstanceUid);
    if (!chosen) throw new DicomError(`series ${options.seriesInstanceUid} is not in the input`, 'not_found');
    chosen.reason = undefined;
  } else {
    const usable = candidates.filter((c) => c.reason === undefined).sort((a, b) => b.frames.length - a.frames.length);
    chosen = usable[0];
  }
  if (!chosen) {
    const first = candidates[0];
    const reasons = candidates.map((c) => c.reason ?? '');
    if (reasons.some((r) => r.startsWith('modality')) && first) {
      const modalities = [...new Set(candidates.map((c) => c.frames[0]?.modality ?? 'unknown'))].join(', ');
      throw new DicomError(`no CT series found: the input is ${modalities}; fedct needs a chest CT`, 'not_ct');
    }
    if (reasons.includes('not axial')) throw new DicomError('no axial CT series found (only sagittal/coronal reconstructions); export the axial series', 'bad_geometry');
    if (reasons.includes('no pixel data')) throw new DicomError('the DICOM files have no pixel data (no image)', 'no_pixel_data');
    throw new DicomError('no usable CT series found (only localizer images)', 'too_few_slices');
  }
  if (chosen.frames[0]?.modality === undefined) warnings.push('Modality tag missing: assumed CT');
  const others = candidates.filter((c) => c !== chosen).map(describeSeries);
  return { chosen, others, warnings };
}

function seriesInfo(c: Candidate, sorted: SortedSeries): SeriesInfo {
  const f = c.frames[0];
  const info: SeriesInfo = {
    seriesInstanceUid: c.uid,
    modality: f?.modality ?? 'CT',
    transferSyntax: f?.transferSyntax ?? '',
    slices: c.frames.length,
    rows: sorted.rows,
    columns: sorted.columns,
    format: 'dicom',
  };
  if (f?.studyInstanceUid) info.studyInstanceUid = f.studyInstanceUid;
  if (f?.patientId) info.patientId = f.patientId;
  if (f?.manufacturer) info.manufacturer = f.manufacturer;
  if (f?.model) info.model = f.model;
  if (f?.description) info.description = f.description;
  return info;
}

/**
 * Opens a study for slice-by-slice reading: lists and parses the files, picks the series and sorts
 * it. Pixels are decoded only when `read` is called. NIfTI input is read whole.
 */
export async function openStudy(input: string | string[], options: ReadStudyOptions = {}): Promise<SliceSource> {
  const inputs = Array.isArray(input) ? input : [input];
  if (inputs.length === 0) throw new DicomError('no input files given', 'empty');
  const files = listFiles(inputs);
  if (files.length === 0) throw new DicomError(`${inputs.join(', ')}: no files found (empty folder)`, 'empty');
  const scan = scanFiles(files);
  if (scan.frames.length === 0 && scan.niftiFiles.length > 0) {
    if (scan.niftiFiles.length > 1) throw new DicomError(`found ${scan.niftiFiles.length} NIfTI files; give one study at a time`, 'nifti');
    return studySource(await readNifti(scan.niftiFiles[0] ?? ''));
  }
  if (scan.frames.length === 0) {
    const first = scan.skipped[0]?.error;
    if (first && scan.skipped.length === 1) throw first;
    if (first) throw new DicomError(`none of the ${scan.skipped.length} files is a readable DICOM image (first: ${first.message})`, first.code, { cause: first });
    throw new DicomError(`${inputs.join(', ')}: no DICOM files found`, 'empty');
  }
  const warnings: string[] = [];
  if (scan.skipped.length > 0) {
    const first = scan.skipped[0]?.error.message ?? '';
    warnings.push(`${scan.skipped.length} file${scan.skipped.length === 1 ? '' : 's'} skipped (${first}${scan.skipped.length > 1 ? ', ...' : ''})`);
  }
  if (scan.niftiFiles.length > 0) warnings.push(`${scan.niftiFiles.length} NIfTI file(s) ignored: DICOM series found beside them`);
  const { chosen, others, warnings: choiceWarnings } = chooseSeries(scan.frames, options);
  warnings.push(...choiceWarnings);
  const withPixels = chosen.frames.filter((f) => f.hasPixelData);
  const first = withPixels[0];
  if (!first) throw new DicomError('the CT series has no pixel data', 'no_pixel_data');
  checkPixelFormat(first);
  const sorted = sortSeries(withPixels);
  warnings.push(...sorted.warnings);
  const series = seriesInfo(chosen, sorted);

  let cachedFile = '';
  let cached: ParsedDicom | undefined;
  const reader = new FileReader();
  const frames = sorted.frames;
  return {
    rows: sorted.rows,
    columns: sorted.columns,
    slices: frames.length,
    spacingMm: [sorted.sliceSpacing, sorted.pixelSpacing[0], sorted.pixelSpacing[1]],
    geometry: sorted.geometry,
    series,
    otherSeries: others,
    warnings,
    async read(k, out, offset = 0) {
      const h = frames[k];
      if (!h) throw new RangeError(`slice ${k} out of range`);
      if (h.file !== cachedFile || !cached) {
        cached = parseDicomBuffer(reader.read(h.file), h.file);
        cachedFile = h.file;
      }
      await readFrameHu(cached, h, out, offset);
    },
  };
}

/** A SliceSource over a study already in memory. */
export function studySource(study: CtStudy): SliceSource {
  const [slices, rows, columns] = study.shape;
  const plane = rows * columns;
  return {
    rows,
    columns,
    slices,
    spacingMm: study.spacingMm,
    geometry: study.geometry,
    series: study.series,
    otherSeries: study.otherSeries,
    warnings: [...study.warnings],
    read(k, out, offset = 0) {
      if (k < 0 || k >= slices) return Promise.reject(new RangeError(`slice ${k} out of range`));
      out.set(study.hu.subarray(k * plane, (k + 1) * plane), offset);
      return Promise.resolve();
    },
  };
}

/**
 * Reads a CT study: a folder (searched recursively), a list of files, or one NIfTI file.
 * Picks the axial CT series with the most slices (others are listed in `otherSeries`), sorts it
 * along the slice normal and converts it to Hounsfield units. Throws DicomError with a one-line
 * message when the input cannot be used.
 */
export async function readStudy(input: string | string[], options: ReadStudyOptions = {}): Promise<CtStudy> {
  const source = await openStudy(input, options);
  const plane = source.rows * source.columns;
  const hu = new Float32Array(source.slices * plane);
  for (let k = 0; k < source.slices; k++) await source.read(k, hu, k * plane);
  return {
    hu,
    shape: [source.slices, source.rows, source.columns],
    spacingMm: source.spacingMm,
    sourceSlices: source.slices,
    geometry: source.geometry,
    series: source.series,
    otherSeries: source.otherSeries,
    warnings: source.warnings,
  };
}
