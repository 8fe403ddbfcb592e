import { DicomError } from '../errors';

/** How a simulated scanner reconstructs and stores a study. */
export interface ScannerProfile {
  name: string;
  manufacturer: string;
  model: string;
  /** Rows = columns. */
  matrix: number;
  /** In-plane pixel spacing, mm. */
  pixelSpacingMm: number;
  sliceThicknessMm: number;
  /** Distance between slice centres, mm (defaults to the thickness). */
  sliceSpacingMm: number;
  /** Length of the scan along z, mm (seeded ±10 %). */
  coverageMm: number;
  rescaleIntercept: -1024 | 0;
  /** PixelRepresentation 1 (signed) or 0 (unsigned). */
  signed: boolean;
  bitsStored: 12 | 16;
  /** Stored value written outside the reconstruction circle (PixelPaddingValue), if any. */
  paddingValue?: number;
  /** Standard deviation of the image noise, HU. */
  noiseHu: number;
}

/** Simulated scanners, from CI-sized to high resolution. */
export const SCANNER_PROFILES: Readonly<Record<string, ScannerProfile>> = {
  tiny: {
    name: 'tiny', manufacturer: 'FEDCT', model: 'Phantom Tiny', matrix: 256, pixelSpacingMm: 1.0,
    sliceThicknessMm: 8, sliceSpacingMm: 8, coverageMm: 240, rescaleIntercept: -1024, signed: false, bitsStored: 12, noiseHu: 12,
  },
  'ge-lightspeed': {
    name: 'ge-lightspeed', manufacturer: 'GE MEDICAL SYSTEMS', model: 'LightSpeed VCT', matrix: 512, pixelSpacingMm: 0.703,
    sliceThicknessMm: 5, sliceSpacingMm: 5, coverageMm: 300, rescaleIntercept: -1024, signed: true, bitsStored: 16,
    paddingValue: -2000, noiseHu: 15,
  },
  'siemens-definition': {
    name: 'siemens-definition', manufacturer: 'SIEMENS', model: 'SOMATOM Definition AS', matrix: 512, pixelSpacingMm: 0.68,
    sliceThicknessMm: 1, sliceSpacingMm: 1, coverageMm: 300, rescaleIntercept: -1024, signed: false, bitsStored: 12, noiseHu: 20,
  },
  'toshiba-aquilion': {
    name: 'toshiba-aquilion', manufacturer: 'TOSHIBA', model: 'Aquilion ONE', matrix: 512, pixelSpacingMm: 0.78,
    sliceThicknessMm: 8, sliceSpacingMm: 8, coverageMm: 300, rescaleIntercept: 0, signed: true, bitsStored: 16,
    paddingValue: -2048, noiseHu: 10,
  },
  'philips-ingenuity': {
    name: 'philips-ingenuity', manufacturer: 'Philips', model: 'Ingenuity CT', matrix: 768, pixelSpacingMm: 0.5,
    sliceThicknessMm: 2, sliceSpacingMm: 2, coverageMm: 300, rescaleIntercept: -1024, signed: false, bitsStored: 12, noiseHu: 18,
  },
  'uih-low-dose': {
    name: 'uih-low-dose', manufacturer: 'UIH', model: 'uCT 530', matrix: 256, pixelSpacingMm: 0.98,
    sliceThicknessMm: 3, sliceSpacingMm: 3, coverageMm: 300, rescaleIntercept: 0, signed: true, bitsStored: 16, noiseHu: 30,
  },
};

/** Resolves a profile name (throws DicomError listing the names). */
export function scannerProfile(scanner: ScannerProfile | string | undefined): ScannerProfile {
  if (scanner === undefined) return SCANNER_PROFILES.tiny as ScannerProfile;
  if (typeof scanner !== 'string') return scanner;
  const p = SCANNER_PROFILES[scanner];
  if (!p) throw new DicomError(`unknown scanner "${scanner}"; use one of: ${Object.keys(SCANNER_PROFILES).join(', ')}`, 'invalid_argument');
  return p;
}
