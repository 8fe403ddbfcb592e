import type { ScannerProfile } from './scanners';
import type { PhantomLesion } from './types';
import type { ValueNoise } from './value-noise';

/** The anatomy model, in mm, patient coordinates: x to the patient's left, y posterior, z to the head. */
export interface Tube {
  a: [number, number, number];
  b: [number, number, number];
  r: number;
}

export interface Model {
  profile: ScannerProfile;
  slices: number;
  spacing: number;
  z0: number;
  origin: [number, number, number];
  cy: number;
  bodyA: number;
  bodyB: number;
  fat: number;
  ribA: number;
  ribB: number;
  ribPitch: number;
  ribPhase: number;
  lungBase: number;
  lungTop: number;
  lungCx: number;
  lungCy: number;
  lungA: number;
  lungB: number;
  dome: number;
  spineY: number;
  heart: { c: [number, number, number]; r: [number, number, number] };
  vessels: Tube[];
  airways: Tube[];
  lesions: PhantomLesion[];
  capLobe?: { side: 'left' | 'right'; zTop: number; tilt: number; segment?: { c: [number, number, number]; r: number } };
  texture: ValueNoise;
  lesionTexture: ValueNoise;
  seed: number;
}

/** Lung cross-section at height z: centre offset and half-axes for one side (null above/below the lung). */
export function lungSection(m: Model, z: number): { a: number; b: number } | null {
  if (z < m.lungBase - m.dome || z > m.lungTop) return null;
  const h = (z - m.lungBase) / (m.lungTop - m.lungBase);
  const taper = h <= 0 ? 1 : Math.min(1, 1.35 * Math.sqrt(Math.max(0, 1 - h)));
  return { a: m.lungA * taper, b: m.lungB * (0.55 + 0.45 * taper) };
}

/** Height of the diaphragm at (x, y): a dome, higher on the right (negative x). */
export function diaphragm(m: Model, x: number, y: number): number {
  const side = x < 0 ? -1 : 1;
  const u = (x - side * m.lungCx) / (m.lungA * 1.1);
  const v = (y - m.lungCy) / (m.lungB * 1.1);
  const dome = Math.max(0, 1 - u * u - v * v);
  return m.lungBase - m.dome + m.dome * 1.6 * dome + (side < 0 ? 12 : 0);
}
