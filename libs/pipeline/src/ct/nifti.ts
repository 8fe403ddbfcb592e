/** NIfTI-1/2 CT volumes (`.nii`, `.nii.gz`) through nifti-reader-js, reoriented to the DICOM-like grid. */
import { readFileSync } from 'node:fs';
import type * as NiftiModule from 'nifti-reader-js';
import { DicomError } from './errors';
import type { CtStudy } from './types';

function typedView(datatype: number, buffer: ArrayBuffer, littleEndian: boolean, count: number): (i: number) => number {
  const view = new DataView(buffer);
  switch (datatype) {
    case 2:
      return (i) => view.getUint8(i);
    case 256:
      return (i) => view.getInt8(i);
    case 4:
      if (littleEndian && count * 2 <= buffer.byteLength) {
        const a = new Int16Array(buffer, 0, count);
        return (i) => a[i] ?? 0;
      }
      return (i) => view.getInt16(2 * i, littleEndian);
    case 512:
      return (i) => view.getUint16(2 * i, littleEndian);
    case 8:
      return (i) => view.getInt32(4 * i, littleEndian);
    case 768:
      return (i) => view.getUint32(4 * i, littleEndian);
    case 16:
      return (i) => view.getFloat32(4 * i, littleEndian);
    case 64:
      return (i) => view.getFloat64(8 * i, littleEndian);
    default:
      throw new DicomError(`NIfTI data type ${datatype} is not supported (integer or float scalars only)`, 'nifti');
  }
}

/**
 * Reads a NIfTI CT volume into a CtStudy on the DICOM patient grid: x towards the patient's left,
 * y towards posterior, z towards the head (ascending), values in HU (scl_slope/scl_inter applied).
 */
export async function readNifti(file: string): Promise<CtStudy> {
  let raw: ArrayBuffer;
  try {
    const bytes = readFileSync(file);
    raw = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  } catch (error) {
    throw new DicomError(`${file} could not be read`, 'not_found', { cause: error, file });
  }
  // nifti-reader-js is ESM-only: load it with a real dynamic import.
  const nifti = (await import('nifti-reader-js')) as typeof NiftiModule;
  let header: NiftiModule.NIFTI1 | NiftiModule.NIFTI2;
  let image: ArrayBuffer;
  try {
    if (nifti.isCompressed(raw)) raw = nifti.decompress(raw) as ArrayBuffer;
    if (!nifti.isNIFTI(raw)) throw new DicomError(`${file} is not a NIfTI file`, 'nifti', { file });
    header = nifti.readHeader(raw);
    image = nifti.readImage(header, raw);
  } catch (error) {
    if (error instanceof DicomError) throw error;
    throw new DicomError(`${file} is not a readable NIfTI file (${error instanceof Error ? error.message : String(error)})`, 'nifti', { cause: error, file });
  }
  const nx = header.dims[1] ?? 0;
  const ny = header.dims[2] ?? 0;
  const nz = header.dims[3] ?? 1;
  const warnings: string[] = [];
  if ((header.dims[0] ?? 3) > 3 && (header.dims[4] ?? 1) > 1) warnings.push('4-D NIfTI: only the first volume is used');
  if (nx < 1 || ny < 1 || nz < 2) throw new DicomError(`${file}: volume ${nx}x${ny}x${nz} has fewer than 2 slices`, 'too_few_slices', { file });
  const count = nx * ny * nz;
  const expectedBytes = count * (header.numBitsPerVoxel / 8);
  if (image.byteLength < expectedBytes) throw new DicomError(`${file} is truncated`, 'truncated', { file });
  const get = typedView(header.datatypeCode, image, header.littleEndian, count);
  const slope = header.scl_slope && Number.isFinite(header.scl_slope) ? header.scl_slope : 1;
  const inter = Number.isFinite(header.scl_inter) && header.scl_slope ? header.scl_inter : 0;

  const affine = header.affine;
  const dims = [nx, ny, nz];
  const pix = [Math.abs(header.pixDims[1] ?? 1) || 1, Math.abs(header.pixDims[2] ?? 1) || 1, Math.abs(header.pixDims[3] ?? 1) || 1];
  // For each output axis (x: RAS -x, y: RAS -y, z: RAS +z) find the voxel axis that runs along it.
  const wanted = [-1, -1, 1];
  const used = new Set<number>();
  const axisOf: number[] = [];
  const flip: boolean[] = [];
  for (let t = 0; t < 3; t++) {
    let best = -1;
    let bestValue = 0;
    for (let a = 0; a < 3; a++) {
      if (used.has(a)) continue;
      const v = affine[t]?.[a] ?? (a === t ? 1 : 0);
      if (best < 0 || Math.abs(v) > Math.abs(bestValue)) {
        best = a;
        bestValue = v;
      }
    }
    used.add(best);
    axisOf.push(best);
    flip.push(Math.sign(bestValue || 1) !== wanted[t]);
  }
  const [ax, ay, az] = axisOf as [number, number, number];
  const X = dims[ax] ?? 1;
  const Y = dims[ay] ?? 1;
  const Z = dims[az] ?? 1;
  const strides = [1, nx, nx * ny];
  const sx = (flip[0] ? -1 : 1) * (strides[ax] ?? 0);
  const sy = (flip[1] ? -1 : 1) * (strides[ay] ?? 0);
  const sz = (flip[2] ? -1 : 1) * (strides[az] ?? 0);
  const origin = (flip[0] ? (X - 1) * (strides[ax] ?? 0) : 0) + (flip[1] ? (Y - 1) * (strides[ay] ?? 0) : 0) + (flip[2] ? (Z - 1) * (strides[az] ?? 0) : 0);
  const hu = new Float32Array(count);
  let o = 0;
  for (let z = 0; z < Z; z++) {
    for (let y = 0; y < Y; y++) {
      let i = origin + z * sz + y * sy;
      for (let x = 0; x < X; x++, i += sx) hu[o++] = get(i) * slope + inter;
    }
  }
  const spacingZ = pix[az] ?? 1;
  return {
    hu,
    shape: [Z, Y, X],
    spacingMm: [spacingZ, pix[ay] ?? 1, pix[ax] ?? 1],
    sourceSlices: Z,
    geometry: { positionsMm: Float64Array.from({ length: Z }, (_, k) => k * spacingZ), inPlaneShiftMm: new Float64Array(2 * Z) },
    series: {
      seriesInstanceUid: '',
      modality: 'CT',
      transferSyntax: 'nifti',
      slices: Z,
      rows: Y,
      columns: X,
      format: 'nifti',
      description: (header.description ?? '').replace(/\0/g, '').trim() || file.split(/[\\/]/).pop() || file,
    },
    otherSeries: [],
    warnings,
  };
}
