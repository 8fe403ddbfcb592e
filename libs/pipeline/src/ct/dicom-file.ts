/** One DICOM Part 10 file: its header per frame, and its frames' pixels in Hounsfield units. */
import * as dicomParser from 'dicom-parser';
import type { DataSet, Element } from 'dicom-parser';
import { decodeCompressedFrame, isSupportedTransferSyntax, isUncompressed, TRANSFER_SYNTAX, describeTransferSyntax } from './codecs';
import { DicomError } from './errors';

/** Everything about one frame (a slice) that reading and geometry need. */
export interface FrameHeader {
  file: string;
  /** Frame index inside the file (0 for single-frame files). */
  frame: number;
  seriesInstanceUid: string;
  studyInstanceUid?: string;
  patientId?: string;
  modality?: string;
  manufacturer?: string;
  model?: string;
  description?: string;
  imageType: string[];
  transferSyntax: string;
  rows: number;
  columns: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  samplesPerPixel: number;
  photometric: string;
  slope: number;
  intercept: number;
  /** Stored value range [lo, hi] that marks padding (air), if the file declares one. */
  padding?: [number, number];
  /** [between rows (y), between columns (x)], mm. */
  pixelSpacing?: [number, number];
  sliceThickness?: number;
  imagePosition?: [number, number, number];
  imageOrientation?: [number, number, number, number, number, number];
  sliceLocation?: number;
  instanceNumber?: number;
  numberOfFrames: number;
  hasPixelData: boolean;
}

/** A parsed file: frame headers plus what is needed to decode them. */
export interface ParsedDicom {
  frames: FrameHeader[];
  dataSet: DataSet;
}

const PIXEL_DATA = 'x7fe00010';

function str(ds: DataSet, tag: string): string | undefined {
  const v = ds.string(tag);
  return v === undefined || v === '' ? undefined : v;
}

function num(ds: DataSet | undefined, tag: string, index = 0): number | undefined {
  if (!ds?.elements[tag]) return undefined;
  const v = ds.floatString(tag, index);
  return v === undefined || Number.isNaN(v) ? undefined : v;
}

function nums(ds: DataSet | undefined, tag: string, count: number): number[] | undefined {
  if (!ds?.elements[tag]) return undefined;
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const v = ds.floatString(tag, i);
    if (v === undefined || !Number.isFinite(v)) return undefined;
    out.push(v);
  }
  return out;
}

function firstItem(ds: DataSet | undefined, tag: string): DataSet | undefined {
  return ds?.elements[tag]?.items?.[0]?.dataSet;
}

/** Looks a tag up in a functional-group sequence item, per-frame first, then shared. */
function groupValue<T>(
  perFrame: DataSet | undefined,
  shared: DataSet | undefined,
  sequenceTag: string,
  read: (ds: DataSet) => T | undefined,
): T | undefined {
  for (const group of [perFrame, shared]) {
    const item = firstItem(group, sequenceTag);
    if (item) {
      const v = read(item);
      if (v !== undefined) return v;
    }
  }
  return undefined;
}

function describeParseFailure(error: unknown): string {
  if (typeof error === 'string') return error;
  if (error instanceof Error) return error.message;
  if (error && typeof error === 'object' && 'exception' in error) return describeParseFailure(error.exception);
  return String(error);
}

/**
 * Parses a DICOM Part 10 file (or a preamble-less data set). With `headerOnly` the buffer may be a
 * prefix of the file: parsing stops at the pixel data.
 * Throws DicomError 'not_dicom' or 'truncated'.
 */
export function parseDicomBuffer(buffer: Uint8Array, file: string, options: { headerOnly?: boolean } = {}): ParsedDicom {
  const hasPreamble =
    buffer.length >= 132 && buffer[128] === 0x44 && buffer[129] === 0x49 && buffer[130] === 0x43 && buffer[131] === 0x4d;
  // A raw data set without preamble starts with a group 0x0008 (or 0x0002) tag.
  const looksRaw = !hasPreamble && buffer.length >= 8 && (buffer[0] === 0x08 || buffer[0] === 0x02) && buffer[1] === 0x00;
  if (!hasPreamble && !looksRaw) {
    throw new DicomError(`${file} is not a DICOM file (no "DICM" marker)`, 'not_dicom', { file });
  }
  let dataSet: DataSet;
  try {
    const parseOptions: dicomParser.ParseDicomOptions = options.headerOnly ? { untilTag: PIXEL_DATA } : {};
    if (looksRaw) parseOptions.TransferSyntaxUID = TRANSFER_SYNTAX.implicitLittle;
    dataSet = dicomParser.parseDicom(buffer, parseOptions);
  } catch (error) {
    const why = describeParseFailure(error);
    if (/overrun|overread|beyond|end of|past/i.test(why)) {
      throw new DicomError(`${file} is truncated (${why})`, 'truncated', { file, cause: error });
    }
    throw new DicomError(`${file} is not a readable DICOM file (${why})`, 'not_dicom', { file, cause: error });
  }
  return { frames: frameHeaders(dataSet, file), dataSet };
}

function frameHeaders(ds: DataSet, file: string): FrameHeader[] {
  const transferSyntax = (str(ds, 'x00020010') ?? TRANSFER_SYNTAX.implicitLittle).replace(/\0/g, '').trim();
  const pixelRepresentation = ds.uint16('x00280103') ?? 0;
  const bitsAllocated = ds.uint16('x00280100') ?? 16;
  const numberOfFrames = Math.max(1, num(ds, 'x00280008') ?? 1);
  const padding = readPadding(ds, pixelRepresentation, bitsAllocated);
  const base = {
    file,
    seriesInstanceUid: str(ds, 'x0020000e') ?? '',
    studyInstanceUid: str(ds, 'x0020000d'),
    patientId: str(ds, 'x00100020'),
    modality: str(ds, 'x00080060'),
    manufacturer: str(ds, 'x00080070'),
    model: str(ds, 'x00081090'),
    description: str(ds, 'x0008103e'),
    imageType: (ds.string('x00080008') ?? '').split('\\').map((s) => s.trim().toUpperCase()).filter(Boolean),
    transferSyntax,
    rows: ds.uint16('x00280010') ?? 0,
    columns: ds.uint16('x00280011') ?? 0,
    bitsAllocated,
    bitsStored: ds.uint16('x00280101') ?? bitsAllocated,
    pixelRepresentation,
    samplesPerPixel: ds.uint16('x00280002') ?? 1,
    photometric: str(ds, 'x00280004') ?? 'MONOCHROME2',
    numberOfFrames,
    hasPixelData: ds.elements[PIXEL_DATA] !== undefined,
    ...(padding ? { padding } : {}),
  };
  const top = {
    slope: num(ds, 'x00281053') ?? 1,
    intercept: num(ds, 'x00281052') ?? 0,
    pixelSpacing: pair(nums(ds, 'x00280030', 2)),
    sliceThickness: num(ds, 'x00180050'),
    imagePosition: triple(nums(ds, 'x00200032', 3)),
    imageOrientation: sextuple(nums(ds, 'x00200037', 6)),
    sliceLocation: num(ds, 'x00201041'),
    instanceNumber: num(ds, 'x00200013'),
  };
  const perFrameItems = ds.elements['x52009230']?.items;
  const shared = firstItem(ds, 'x52009229');
  const frames: FrameHeader[] = [];
  for (let f = 0; f < numberOfFrames; f++) {
    const perFrame = perFrameItems?.[f]?.dataSet;
    if (!perFrame && !shared) {
      frames.push(clean({ ...base, ...top, frame: f }));
      continue;
    }
    const position = groupValue(perFrame, shared, 'x00209113', (d) => triple(nums(d, 'x00200032', 3)));
    const orientation = groupValue(perFrame, shared, 'x00209116', (d) => sextuple(nums(d, 'x00200037', 6)));
    const spacing = groupValue(perFrame, shared, 'x00289110', (d) => pair(nums(d, 'x00280030', 2)));
    const thickness = groupValue(perFrame, shared, 'x00289110', (d) => num(d, 'x00180050'));
    const slope = groupValue(perFrame, shared, 'x00289145', (d) => num(d, 'x00281053'));
    const intercept = groupValue(perFrame, shared, 'x00289145', (d) => num(d, 'x00281052'));
    frames.push(
      clean({
        ...base,
        frame: f,
        slope: slope ?? top.slope,
        intercept: intercept ?? top.intercept,
        pixelSpacing: spacing ?? top.pixelSpacing,
        sliceThickness: thickness ?? top.sliceThickness,
        imagePosition: position ?? (numberOfFrames === 1 ? top.imagePosition : undefined),
        imageOrientation: orientation ?? top.imageOrientation,
        sliceLocation: numberOfFrames === 1 ? top.sliceLocation : undefined,
        instanceNumber: numberOfFrames === 1 ? top.instanceNumber : f + 1,
      }),
    );
  }
  return frames;
}

function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function pair(v: number[] | undefined): [number, number] | undefined {
  return v && v.length === 2 ? [v[0] ?? 0, v[1] ?? 0] : undefined;
}
function triple(v: number[] | undefined): [number, number, number] | undefined {
  return v && v.length === 3 ? [v[0] ?? 0, v[1] ?? 0, v[2] ?? 0] : undefined;
}
function sextuple(v: number[] | undefined): [number, number, number, number, number, number] | undefined {
  return v && v.length === 6 ? [v[0] ?? 0, v[1] ?? 0, v[2] ?? 0, v[3] ?? 0, v[4] ?? 0, v[5] ?? 0] : undefined;
}

function readPadding(ds: DataSet, pixelRepresentation: number, bitsAllocated: number): [number, number] | undefined {
  const read = (tag: string): number | undefined => {
    const el = ds.elements[tag];
    if (!el || el.length < 2) return undefined;
    let v = el.vr === 'SS' ? ds.int16(tag) : ds.uint16(tag);
    if (v === undefined) return undefined;
    // Signed pixel data with the value written as US: reinterpret the two's complement.
    if (pixelRepresentation === 1 && el.vr !== 'SS' && bitsAllocated === 16 && v > 32767) v -= 65536;
    if (pixelRepresentation === 1 && el.vr === undefined && v > 32767) v -= 65536;
    return v;
  };
  const value = read('x00280120');
  if (value === undefined) return undefined;
  const limit = read('x00280121');
  return limit === undefined ? [value, value] : [Math.min(value, limit), Math.max(value, limit)];
}

/** Checks that the frame is a grey-scale image this reader can turn into HU. */
export function checkPixelFormat(h: FrameHeader): void {
  if (!h.hasPixelData) throw new DicomError(`${h.file} has no pixel data`, 'no_pixel_data', { file: h.file });
  if (!isSupportedTransferSyntax(h.transferSyntax)) {
    throw new DicomError(
      `${h.file}: ${describeTransferSyntax(h.transferSyntax)} is not supported; export the series uncompressed or lossless (e.g. explicit VR little endian)`,
      'unsupported_transfer_syntax',
      { file: h.file },
    );
  }
  if (h.samplesPerPixel !== 1 || !/^MONOCHROME[12]$/.test(h.photometric)) {
    throw new DicomError(`${h.file} is a ${h.photometric} image, not a grey-scale CT slice`, 'unsupported_pixel_format', { file: h.file });
  }
  if (h.bitsAllocated !== 8 && h.bitsAllocated !== 16) {
    throw new DicomError(`${h.file}: ${h.bitsAllocated} bits allocated per pixel is not supported (8 or 16)`, 'unsupported_pixel_format', { file: h.file });
  }
  if (h.rows < 1 || h.columns < 1) throw new DicomError(`${h.file} has no image size (Rows/Columns)`, 'no_pixel_data', { file: h.file });
}

/** Raw sample bytes of one frame, little-endian, BitsAllocated per sample. */
async function frameBytes(parsed: ParsedDicom, h: FrameHeader): Promise<Uint8Array> {
  const ds = parsed.dataSet;
  const el: Element | undefined = ds.elements[PIXEL_DATA];
  if (!el) throw new DicomError(`${h.file} has no pixel data`, 'no_pixel_data', { file: h.file });
  const frameLength = (h.rows * h.columns * h.samplesPerPixel * h.bitsAllocated) / 8;
  if (isUncompressed(h.transferSyntax)) {
    const start = el.dataOffset + h.frame * frameLength;
    if (start + frameLength > ds.byteArray.length || (el.length < frameLength * (h.frame + 1) && el.length !== 0xffffffff)) {
      throw new DicomError(`${h.file} is truncated: its pixel data is shorter than ${h.rows}x${h.columns}`, 'truncated', { file: h.file });
    }
    const bytes = ds.byteArray.subarray(start, start + frameLength);
    if (h.transferSyntax === TRANSFER_SYNTAX.explicitBig && h.bitsAllocated === 16) {
      const swapped = new Uint8Array(frameLength);
      for (let i = 0; i < frameLength; i += 2) {
        swapped[i] = bytes[i + 1] ?? 0;
        swapped[i + 1] = bytes[i] ?? 0;
      }
      return swapped;
    }
    return bytes;
  }
  let encoded: Uint8Array;
  try {
    if (!el.fragments || el.fragments.length === 0) throw new Error('no fragments');
    if (h.numberOfFrames === 1) {
      encoded = dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, el.fragments.length);
    } else if ((el.basicOffsetTable?.length ?? 0) > 0) {
      encoded = dicomParser.readEncapsulatedImageFrame(ds, el, h.frame);
    } else if (el.fragments.length === h.numberOfFrames) {
      encoded = dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, h.frame, 1);
    } else {
      encoded = dicomParser.readEncapsulatedImageFrame(ds, el, h.frame, dicomParser.createJPEGBasicOffsetTable(ds, el));
    }
  } catch (error) {
    throw new DicomError(`${h.file}: encapsulated pixel data is damaged (${describeParseFailure(error)})`, 'truncated', {
      file: h.file,
      cause: error,
    });
  }
  const decoded = await decodeCompressedFrame(h.transferSyntax, encoded, h);
  if (decoded.length < frameLength) {
    throw new DicomError(`${h.file}: decoded frame is shorter than ${h.rows}x${h.columns}`, 'decode_failed', { file: h.file });
  }
  return decoded;
}

/**
 * Decodes frame `h` of `parsed` and writes its Hounsfield units into `out` at `offset`
 * (rows × columns floats). BitsStored is honoured (sign extension or masking), then
 * `HU = stored × slope + intercept`; stored values in the padding range become -1000 HU (air).
 */
export async function readFrameHu(parsed: ParsedDicom, h: FrameHeader, out: Float32Array, offset = 0): Promise<void> {
  checkPixelFormat(h);
  const bytes = await frameBytes(parsed, h);
  storedToHu(bytes, h, out, offset);
}

/** Converts little-endian sample bytes to HU (see readFrameHu). Exposed for tests. */
export function storedToHu(
  bytes: Uint8Array,
  h: Pick<FrameHeader, 'rows' | 'columns' | 'bitsAllocated' | 'bitsStored' | 'pixelRepresentation' | 'slope' | 'intercept' | 'padding'>,
  out: Float32Array,
  offset = 0,
): void {
  const n = h.rows * h.columns;
  const bits = Math.min(h.bitsStored, h.bitsAllocated);
  const signed = h.pixelRepresentation === 1;
  // Padding is tested on the HU value: v → v·slope + intercept is monotonic, so the stored range maps to an HU range.
  let padLo = Infinity;
  let padHi = -Infinity;
  if (h.padding) {
    const a = h.padding[0] * h.slope + h.intercept;
    const b = h.padding[1] * h.slope + h.intercept;
    padLo = Math.min(a, b);
    padHi = Math.max(a, b);
  }
  const dst = out.subarray(offset, offset + n);
  if (h.bitsAllocated === 8) {
    huFromUint8(bytes.subarray(0, n), signed ? 32 - bits : 0, (1 << bits) - 1, h.slope, h.intercept, padLo, padHi, dst);
    return;
  }
  const aligned = (bytes.byteOffset & 1) === 0 ? bytes : bytes.slice(0, 2 * n);
  if (signed && bits === 16) {
    huFromInt16(new Int16Array(aligned.buffer, aligned.byteOffset, n), h.slope, h.intercept, padLo, padHi, dst);
  } else {
    huFromUint16(new Uint16Array(aligned.buffer, aligned.byteOffset, n), signed ? 32 - bits : 0, bits >= 16 ? 0xffff : (1 << bits) - 1, h.slope, h.intercept, padLo, padHi, dst);
  }
}

// Monomorphic loops: one element type each, so V8 keeps them tight.

function huFromInt16(src: Int16Array, slope: number, intercept: number, padLo: number, padHi: number, out: Float32Array): void {
  const n = out.length;
  for (let i = 0; i < n; i++) {
    const v = (src[i] as number) * slope + intercept;
    out[i] = v >= padLo && v <= padHi ? -1000 : v;
  }
}

/** shift > 0: sign-extend from (32 − shift) bits; shift = 0: mask. */
function huFromUint16(src: Uint16Array, shift: number, mask: number, slope: number, intercept: number, padLo: number, padHi: number, out: Float32Array): void {
  const n = out.length;
  if (shift > 0) {
    for (let i = 0; i < n; i++) {
      const v = (((src[i] as number) << shift) >> shift) * slope + intercept;
      out[i] = v >= padLo && v <= padHi ? -1000 : v;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const v = ((src[i] as number) & mask) * slope + intercept;
      out[i] = v >= padLo && v <= padHi ? -1000 : v;
    }
  }
}

function huFromUint8(src: Uint8Array, shift: number, mask: number, slope: number, intercept: number, padLo: number, padHi: number, out: Float32Array): void {
  const n = out.length;
  for (let i = 0; i < n; i++) {
    const raw = src[i] as number;
    const v = (shift > 0 ? (raw << shift) >> shift : raw & mask) * slope + intercept;
    out[i] = v >= padLo && v <= padHi ? -1000 : v;
  }
}
