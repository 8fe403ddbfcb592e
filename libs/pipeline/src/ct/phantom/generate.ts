import { createHash } from 'node:crypto';
import { CLASS_NAMES, isClassName } from '@fedct/protocol';
import { DicomError } from '../errors';
import { preprocessStudy } from '../preprocess';
import type { ModelReadyVolume } from '../types';
import { buildModel } from './anatomy';
import { finishSlice, renderSlice } from './render';
import type { ScannerProfile } from './scanners';
import type { PhantomClass, PhantomOptions, PhantomStudy } from './types';

function uid(...parts: (string | number)[]): string {
  const h = createHash('sha256').update(parts.join('|')).digest();
  return `2.25.${BigInt(`0x${h.subarray(0, 15).toString('hex')}`).toString()}`;
}

/**
 * Generates a seeded synthetic chest CT study. The HU are exactly those a DICOM reader gets back
 * from writePhantomDicom (integers, clipped to the profile's storage, padding read as -1000).
 * The 'tiny' profile (256², 30 slices) takes well under a second.
 */
export function generatePhantomStudy(options: PhantomOptions): PhantomStudy {
  if (!isClassName(options.cls)) {
    throw new DicomError(`unknown class "${String(options.cls)}"; use ${CLASS_NAMES.join(', ')}`, 'invalid_argument');
  }
  if (!Number.isInteger(options.seed)) throw new DicomError(`seed must be an integer, got ${options.seed}`, 'invalid_argument');
  const m = buildModel(options);
  const n = m.profile.matrix;
  const plane = n * n;
  const hu = new Float32Array(m.slices * plane);
  const lung = new Uint8Array(plane);
  for (let k = 0; k < m.slices; k++) {
    const view = hu.subarray(k * plane, (k + 1) * plane);
    renderSlice(m, k, view, lung);
    finishSlice(m, k, view);
  }
  const positions = Float64Array.from({ length: m.slices }, (_, k) => m.z0 + k * m.spacing);
  const uids = {
    study: uid('study', options.cls, options.seed, m.profile.name),
    series: uid('series', options.cls, options.seed, m.profile.name),
    frameOfReference: uid('for', options.cls, options.seed, m.profile.name),
  };
  return {
    hu,
    shape: [m.slices, n, n],
    spacingMm: [m.spacing, m.profile.pixelSpacingMm, m.profile.pixelSpacingMm],
    sourceSlices: m.slices,
    geometry: { positionsMm: positions, inPlaneShiftMm: new Float64Array(2 * m.slices) },
    series: {
      seriesInstanceUid: uids.series,
      studyInstanceUid: uids.study,
      patientId: `PHANTOM-${options.seed}`,
      modality: 'CT',
      manufacturer: m.profile.manufacturer,
      model: m.profile.model,
      description: `fedct phantom (${m.profile.name})`,
      transferSyntax: '1.2.840.10008.1.2.1',
      slices: m.slices,
      rows: n,
      columns: n,
      format: 'dicom',
    },
    otherSeries: [],
    warnings: [],
    cls: options.cls,
    seed: options.seed,
    scanner: m.profile,
    lesions: m.lesions,
    originMm: m.origin,
    lungZMm: [m.lungBase, m.lungTop],
    uids,
  };
}

/** A model-ready phantom volume without touching the disk (generate, then spec §1). */
export function generatePhantomVolume(cls: PhantomClass, seed: number, scanner?: ScannerProfile | string): Promise<ModelReadyVolume> {
  return preprocessStudy(generatePhantomStudy({ cls, seed, ...(scanner !== undefined ? { scanner } : {}) }));
}
