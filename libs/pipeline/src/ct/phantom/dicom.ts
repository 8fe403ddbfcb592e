import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeDicomFile, type DicomElement } from '../dicom-writer';
import type { PhantomStudy } from './types';

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';

function ds(v: number): string {
  const s = Number(v.toFixed(6)).toString();
  return s.length > 16 ? v.toPrecision(10) : s;
}

function sliceElements(study: PhantomStudy, k: number, pixels: Uint8Array): DicomElement[] {
  const p = study.scanner;
  const z = study.geometry.positionsMm[k] ?? 0;
  const sop = `${study.uids.series}.${k + 1}`;
  const elements: DicomElement[] = [
    { tag: 0x00080008, vr: 'CS', value: 'ORIGINAL\\PRIMARY\\AXIAL' },
    { tag: 0x00080016, vr: 'UI', value: CT_IMAGE_STORAGE },
    { tag: 0x00080018, vr: 'UI', value: sop },
    { tag: 0x00080020, vr: 'DA', value: '20200401' },
    { tag: 0x00080060, vr: 'CS', value: 'CT' },
    { tag: 0x00080070, vr: 'LO', value: p.manufacturer },
    { tag: 0x0008103e, vr: 'LO', value: study.series.description ?? 'fedct phantom' },
    { tag: 0x00081090, vr: 'LO', value: p.model },
    { tag: 0x00100010, vr: 'PN', value: `Phantom^${study.seed}` },
    { tag: 0x00100020, vr: 'LO', value: study.series.patientId ?? `PHANTOM-${study.seed}` },
    { tag: 0x00180050, vr: 'DS', value: ds(p.sliceThicknessMm) },
    { tag: 0x00180060, vr: 'DS', value: '120' },
    { tag: 0x0020000d, vr: 'UI', value: study.uids.study },
    { tag: 0x0020000e, vr: 'UI', value: study.uids.series },
    { tag: 0x00200011, vr: 'IS', value: '2' },
    { tag: 0x00200013, vr: 'IS', value: String(k + 1) },
    { tag: 0x00200032, vr: 'DS', value: [ds(study.originMm[0]), ds(study.originMm[1]), ds(z)].join('\\') },
    { tag: 0x00200037, vr: 'DS', value: '1\\0\\0\\0\\1\\0' },
    { tag: 0x00200052, vr: 'UI', value: study.uids.frameOfReference },
    { tag: 0x00201041, vr: 'DS', value: ds(z) },
    { tag: 0x00280002, vr: 'US', value: 1 },
    { tag: 0x00280004, vr: 'CS', value: 'MONOCHROME2' },
    { tag: 0x00280010, vr: 'US', value: study.shape[1] },
    { tag: 0x00280011, vr: 'US', value: study.shape[2] },
    { tag: 0x00280030, vr: 'DS', value: `${ds(study.spacingMm[1])}\\${ds(study.spacingMm[2])}` },
    { tag: 0x00280100, vr: 'US', value: 16 },
    { tag: 0x00280101, vr: 'US', value: p.bitsStored },
    { tag: 0x00280102, vr: 'US', value: p.bitsStored - 1 },
    { tag: 0x00280103, vr: 'US', value: p.signed ? 1 : 0 },
    { tag: 0x00281050, vr: 'DS', value: '-600' },
    { tag: 0x00281051, vr: 'DS', value: '1500' },
    { tag: 0x00281052, vr: 'DS', value: String(p.rescaleIntercept) },
    { tag: 0x00281053, vr: 'DS', value: '1' },
    { tag: 0x7fe00010, vr: 'OW', value: pixels },
  ];
  if (p.paddingValue !== undefined) elements.push({ tag: 0x00280120, vr: p.signed ? 'SS' : 'US', value: p.paddingValue });
  return elements;
}

/** Stored pixel values for slice k (HU → stored; padding written outside the reconstruction circle). */
function storedSlice(study: PhantomStudy, k: number): Uint8Array {
  const p = study.scanner;
  const [, rows, cols] = study.shape;
  const plane = rows * cols;
  const src = study.hu.subarray(k * plane, (k + 1) * plane);
  const out = new Uint8Array(2 * plane);
  const view = p.signed ? new Int16Array(out.buffer) : new Uint16Array(out.buffer);
  const c = (rows - 1) / 2;
  const r2 = (rows / 2) ** 2;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const o = i * cols + j;
      if (p.paddingValue !== undefined && (i - c) ** 2 + (j - c) ** 2 > r2) view[o] = p.paddingValue;
      else view[o] = Math.round((src[o] as number) - p.rescaleIntercept);
    }
  }
  return out;
}

/**
 * Writes a phantom study as a DICOM series (one explicit VR little endian Part 10 file per slice)
 * into `outDir` (created if needed). Returns the file paths in slice order.
 */
export async function writePhantomDicom(study: PhantomStudy, outDir: string): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  const files: string[] = [];
  for (let k = 0; k < study.shape[0]; k++) {
    const file = join(outDir, `IM${String(k + 1).padStart(4, '0')}.dcm`);
    const sop = `${study.uids.series}.${k + 1}`;
    writeFileSync(file, encodeDicomFile(sliceElements(study, k, storedSlice(study, k)), CT_IMAGE_STORAGE, sop));
    files.push(file);
  }
  return Promise.resolve(files);
}
