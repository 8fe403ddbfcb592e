import { CLASS_NAMES, type ClassName } from '@fedct/protocol';
import type { CtStudy } from '../types';
import type { ScannerProfile } from './scanners';

/** The three classes of CovidCTNet (the protocol's {@link ClassName}). */
export type PhantomClass = ClassName;
/** The protocol's class list, in output order. */
export const PHANTOM_CLASSES: readonly PhantomClass[] = CLASS_NAMES;

/** Options for generatePhantomStudy. */
export interface PhantomOptions {
  cls: PhantomClass;
  seed: number;
  /** A profile or a name from SCANNER_PROFILES (default 'tiny'). */
  scanner?: ScannerProfile | string;
  /** Number of slices (overrides the coverage). */
  slices?: number;
}

/** A lesion placed by the generator (centre and radii in mm, patient coordinates). */
export interface PhantomLesion {
  kind: 'ground-glass' | 'consolidation';
  side: 'left' | 'right';
  centerMm: [number, number, number];
  radiiMm: [number, number, number];
  hu: number;
}

/** A generated study: a CtStudy (HU exactly as a DICOM reader gets them back) plus what was drawn. */
export interface PhantomStudy extends CtStudy {
  cls: PhantomClass;
  seed: number;
  scanner: ScannerProfile;
  lesions: PhantomLesion[];
  /** ImagePositionPatient of the first slice's top-left pixel, mm. */
  originMm: [number, number, number];
  /** z of the lung bases and apices, mm. */
  lungZMm: [number, number];
  uids: { study: string; series: string; frameOfReference: string };
}
