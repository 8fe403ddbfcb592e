/**
 * Seeded synthetic chest CT studies (issue 3 step 6): body and fat, muscle, ribs, spine and sternum,
 * lungs with vessel and airway trees, heart and aorta, liver/stomach under the diaphragm, the scanner
 * table; pathology for Covid-19 (bilateral peripheral multifocal ground glass, lower lobes first) and
 * CAP (unilateral lobar or segmental consolidation with air bronchograms). Written as real DICOM.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLASS_NAMES, isClassName, type ClassName } from '@fedct/protocol';
import { encodeDicomFile, type DicomElement } from './dicom-writer';
import { DicomError } from './errors';
import { preprocessStudy } from './preprocess';
import type { CtStudy, ModelReadyVolume } from './types';

/** The three classes of CovidCTNet (the protocol's {@link ClassName}). */
export type PhantomClass = ClassName;
/** The protocol's class list, in output order. */
export const PHANTOM_CLASSES: readonly PhantomClass[] = CLASS_NAMES;

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

/** Resolves a profile name (throws DicomError listing the names). */
export function scannerProfile(scanner: ScannerProfile | string | undefined): ScannerProfile {
  if (scanner === undefined) return SCANNER_PROFILES.tiny as ScannerProfile;
  if (typeof scanner !== 'string') return scanner;
  const p = SCANNER_PROFILES[scanner];
  if (!p) throw new DicomError(`unknown scanner "${scanner}"; use one of: ${Object.keys(SCANNER_PROFILES).join(', ')}`, 'invalid-argument');
  return p;
}

// ---------------------------------------------------------------------------------------------
// Random numbers

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashSeed(...parts: (string | number)[]): number {
  const h = createHash('sha256').update(parts.join('|')).digest();
  return h.readUInt32LE(0);
}

function uid(...parts: (string | number)[]): string {
  const h = createHash('sha256').update(parts.join('|')).digest();
  return `2.25.${BigInt(`0x${h.subarray(0, 15).toString('hex')}`).toString()}`;
}

/** Smooth value noise in 3-D (cell size in mm), values in [-1, 1]. */
class ValueNoise {
  private readonly table = new Float32Array(4096);
  constructor(seed: number, private readonly cell: number) {
    const r = mulberry32(seed);
    for (let i = 0; i < this.table.length; i++) this.table[i] = r() * 2 - 1;
  }
  private at(i: number, j: number, k: number): number {
    const h = (Math.imul(i, 73856093) ^ Math.imul(j, 19349663) ^ Math.imul(k, 83492791)) & 4095;
    return this.table[h] as number;
  }
  sample(x: number, y: number, z: number): number {
    const fx = x / this.cell;
    const fy = y / this.cell;
    const fz = z / this.cell;
    const i = Math.floor(fx);
    const j = Math.floor(fy);
    const k = Math.floor(fz);
    let tx = fx - i;
    let ty = fy - j;
    let tz = fz - k;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    tz = tz * tz * (3 - 2 * tz);
    const a00 = this.at(i, j, k);
    const a10 = this.at(i + 1, j, k);
    const a01 = this.at(i, j + 1, k);
    const a11 = this.at(i + 1, j + 1, k);
    const b00 = this.at(i, j, k + 1);
    const b10 = this.at(i + 1, j, k + 1);
    const b01 = this.at(i, j + 1, k + 1);
    const b11 = this.at(i + 1, j + 1, k + 1);
    const a0 = a00 + (a10 - a00) * tx;
    const a1 = a01 + (a11 - a01) * tx;
    const b0 = b00 + (b10 - b00) * tx;
    const b1 = b01 + (b11 - b01) * tx;
    const a = a0 + (a1 - a0) * ty;
    const b = b0 + (b1 - b0) * ty;
    return a + (b - a) * tz;
  }
}

// ---------------------------------------------------------------------------------------------
// Anatomy model (mm, patient coordinates: x to the patient's left, y posterior, z to the head)

interface Tube {
  a: [number, number, number];
  b: [number, number, number];
  r: number;
}

interface Model {
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

function branch(out: Tube[], rnd: () => number, start: [number, number, number], dir: [number, number, number], length: number, r: number, depth: number): void {
  const n = Math.hypot(dir[0], dir[1], dir[2]) || 1;
  const d: [number, number, number] = [dir[0] / n, dir[1] / n, dir[2] / n];
  const end: [number, number, number] = [start[0] + d[0] * length, start[1] + d[1] * length, start[2] + d[2] * length];
  out.push({ a: start, b: end, r });
  if (depth <= 0 || r < 0.6) return;
  for (let c = 0; c < 2; c++) {
    const jitter = (): number => (rnd() - 0.5) * 1.1;
    const child: [number, number, number] = [d[0] + jitter(), d[1] + jitter(), d[2] + jitter()];
    branch(out, rnd, end, child, length * (0.72 + 0.1 * rnd()), r * 0.72, depth - 1);
  }
}

function buildModel(options: PhantomOptions): Model {
  const profile = scannerProfile(options.scanner);
  // Anatomy depends on the seed only: the same seed gives the same patient in every class.
  const rnd = mulberry32(hashSeed('anatomy', options.seed));
  const fov = profile.matrix * profile.pixelSpacingMm;
  // Patient size: adult ranges, shrunk to fit the reconstruction field of view.
  const scale = Math.min(0.85 + 0.25 * rnd(), (0.86 * fov) / 340);
  const bodyA = 170 * scale;
  const bodyB = 120 * scale;
  const fat = (8 + 14 * rnd()) * scale;
  const cy = -15 * scale;
  const coverage = profile.coverageMm * (0.9 + 0.2 * rnd());
  const slices = options.slices ?? Math.max(2, Math.round(coverage / profile.sliceSpacingMm));
  const spacing = profile.sliceSpacingMm;
  const extent = (slices - 1) * spacing;
  const lungHeight = Math.min(extent * 0.85, 250 * scale);
  // The scan starts a little below the lung bases (liver dome, stomach).
  const z0 = -120 - 0.08 * extent;
  const lungBase = z0 + Math.max(extent * 0.08, Math.min(45, extent * 0.15));
  const lungTop = lungBase + lungHeight;
  const ribA = bodyA - fat - 14 * scale;
  const ribB = bodyB - fat - 12 * scale;
  const lungA = ribA * (0.44 + 0.04 * rnd());
  const lungB = ribB * (0.78 + 0.06 * rnd());
  const lungCx = ribA * 0.5;
  const lungCy = cy + 6 * scale;
  const spineY = cy + ribB - 8 * scale;
  const origin: [number, number, number] = [-fov / 2 + profile.pixelSpacingMm / 2, -fov / 2 + cy * 0.3, z0];
  const heart = {
    c: [18 * scale, cy - 18 * scale, lungBase + 0.22 * lungHeight] as [number, number, number],
    r: [55 * scale, 48 * scale, Math.max(40, 0.22 * lungHeight)] as [number, number, number],
  };

  const vessels: Tube[] = [];
  const airways: Tube[] = [];
  const hilumZ = lungBase + 0.58 * lungHeight;
  for (const side of [-1, 1]) {
    const hilum: [number, number, number] = [side * lungCx * 0.55, lungCy + 4 * scale, hilumZ];
    for (const [dx, dy, dz] of [
      [side * 0.6, 0.1, 0.9],
      [side * 0.9, -0.3, 0.1],
      [side * 0.5, 0.6, -0.7],
      [side * 0.7, -0.4, -0.8],
      [side * 0.4, 0.8, -0.3],
    ] as [number, number, number][]) {
      branch(vessels, rnd, hilum, [dx + (rnd() - 0.5) * 0.3, dy, dz], 36 * scale, 5.5 * scale, 6);
    }
    const bronchus: [number, number, number] = [side * 22 * scale, lungCy - 6 * scale, hilumZ + 10];
    airways.push({ a: [0, lungCy - 10 * scale, hilumZ + 25], b: bronchus, r: 6.5 * scale });
    for (const [dx, dy, dz] of [
      [side * 0.5, 0.0, 0.8],
      [side * 0.6, 0.3, -0.8],
      [side * 0.8, -0.4, -0.4],
    ] as [number, number, number][]) {
      branch(airways, rnd, bronchus, [dx, dy, dz], 32 * scale, 4.5 * scale, 3);
    }
  }
  airways.push({ a: [0, lungCy - 10 * scale, hilumZ + 25], b: [0, lungCy - 14 * scale, lungTop + 200], r: 9 * scale });
  // Peripheral vessels everywhere in the lungs: short, thin, randomly oriented segments.
  const peripheral = Math.round(70 * scale);
  for (const side of [-1, 1]) {
    for (let i = 0; i < peripheral; i++) {
      const z = lungBase + rnd() * lungHeight * 0.95;
      const h = (z - lungBase) / lungHeight;
      const taper = Math.min(1, 1.35 * Math.sqrt(Math.max(0, 1 - h)));
      const t = rnd() * 2 * Math.PI;
      const rr = Math.sqrt(rnd()) * 0.9;
      const a: [number, number, number] = [side * ribA * 0.5 + Math.cos(t) * rr * lungA * taper, lungCy + Math.sin(t) * rr * lungB * (0.55 + 0.45 * taper), z];
      const len = 12 + 18 * rnd();
      const d = [rnd() - 0.5, rnd() - 0.5, rnd() - 0.5];
      const n = Math.hypot(d[0] ?? 0, d[1] ?? 0, d[2] ?? 0) || 1;
      vessels.push({ a, b: [a[0] + ((d[0] ?? 0) / n) * len, a[1] + ((d[1] ?? 0) / n) * len, a[2] + ((d[2] ?? 0) / n) * len], r: (0.7 + 1.3 * rnd()) * scale });
    }
  }

  const model: Model = {
    profile, slices, spacing, z0, origin, cy, bodyA, bodyB, fat, ribA, ribB,
    ribPitch: 24 + 6 * rnd(), ribPhase: rnd() * 30,
    lungBase, lungTop, lungCx, lungCy, lungA, lungB, dome: 35 * scale, spineY, heart, vessels, airways,
    lesions: [], texture: new ValueNoise(hashSeed('texture', options.seed), 9),
    lesionTexture: new ValueNoise(hashSeed('lesion-texture', options.seed), 4), seed: options.seed,
  };
  placePathology(model, options.cls, mulberry32(hashSeed('pathology', options.seed, options.cls)));
  return model;
}

/** Lung cross-section at height z: centre offset and half-axes for one side (null above/below the lung). */
function lungSection(m: Model, z: number): { a: number; b: number } | null {
  if (z < m.lungBase - m.dome || z > m.lungTop) return null;
  const h = (z - m.lungBase) / (m.lungTop - m.lungBase);
  const taper = h <= 0 ? 1 : Math.min(1, 1.35 * Math.sqrt(Math.max(0, 1 - h)));
  return { a: m.lungA * taper, b: m.lungB * (0.55 + 0.45 * taper) };
}

/** Height of the diaphragm at (x, y): a dome, higher on the right (negative x). */
function diaphragm(m: Model, x: number, y: number): number {
  const side = x < 0 ? -1 : 1;
  const u = (x - side * m.lungCx) / (m.lungA * 1.1);
  const v = (y - m.lungCy) / (m.lungB * 1.1);
  const dome = Math.max(0, 1 - u * u - v * v);
  return m.lungBase - m.dome + m.dome * 1.6 * dome + (side < 0 ? 12 : 0);
}

function placePathology(m: Model, cls: PhantomClass, rnd: () => number): void {
  const height = m.lungTop - m.lungBase;
  if (cls === 'covid-19') {
    const count = 4 + Math.floor(rnd() * 7);
    for (let i = 0; i < count; i++) {
      const side = i % 2 === 0 ? -1 : 1;
      // Lower lobes first: heights skewed towards the base.
      const h = 0.05 + 0.7 * Math.pow(rnd(), 2.2);
      const z = m.lungBase + h * height;
      const section = lungSection(m, z);
      if (!section) continue;
      // Peripheral and mostly posterior: an angle around the lung outline, biased to the back.
      const theta = (rnd() < 0.7 ? Math.PI / 2 : -Math.PI / 2) + (rnd() - 0.5) * 2.2;
      const rr = 0.72 + 0.2 * rnd();
      const cx = side * m.lungCx + Math.cos(theta) * section.a * rr * (side < 0 ? -1 : 1);
      const cyy = m.lungCy + Math.sin(theta) * section.b * rr;
      const size = 14 + 24 * rnd();
      const consolidated = rnd() < 0.2;
      m.lesions.push({
        kind: consolidated ? 'consolidation' : 'ground-glass',
        side: side < 0 ? 'right' : 'left',
        centerMm: [cx, cyy, z],
        radiiMm: [size * (0.8 + 0.4 * rnd()), size * (0.8 + 0.4 * rnd()), size * (0.7 + 0.6 * rnd())],
        hu: consolidated ? -250 + 150 * rnd() : -700 + 200 * rnd(),
      });
    }
  } else if (cls === 'cap') {
    const sideSign = rnd() < 0.5 ? -1 : 1;
    const side = sideSign < 0 ? 'right' : 'left';
    const lobar = rnd() < 0.55;
    const zTop = m.lungBase + (0.35 + 0.2 * rnd()) * height;
    const hu = -80 + 120 * rnd();
    if (lobar) {
      m.capLobe = { side, zTop, tilt: 0.5 + 0.4 * rnd() };
      m.lesions.push({
        kind: 'consolidation', side, centerMm: [sideSign * m.lungCx, m.lungCy + m.lungB * 0.3, (m.lungBase + zTop) / 2],
        radiiMm: [m.lungA, m.lungB, (zTop - m.lungBase) / 2], hu,
      });
    } else {
      const z = m.lungBase + (0.15 + 0.6 * rnd()) * height;
      const section = lungSection(m, z) ?? { a: m.lungA, b: m.lungB };
      const c: [number, number, number] = [sideSign * (m.lungCx + (rnd() - 0.3) * section.a * 0.5), m.lungCy + (rnd() - 0.3) * section.b * 0.8, z];
      const r = 28 + 22 * rnd();
      m.capLobe = { side, zTop: m.lungTop + 1000, tilt: 0, segment: { c, r } };
      m.lesions.push({ kind: 'consolidation', side, centerMm: c, radiiMm: [r, r, r], hu });
    }
  }
}

function segmentDistance(t: Tube, x: number, y: number, z: number): number {
  const vx = t.b[0] - t.a[0];
  const vy = t.b[1] - t.a[1];
  const vz = t.b[2] - t.a[2];
  const wx = x - t.a[0];
  const wy = y - t.a[1];
  const wz = z - t.a[2];
  const len2 = vx * vx + vy * vy + vz * vz;
  let s = len2 > 0 ? (wx * vx + wy * vy + wz * vz) / len2 : 0;
  s = s < 0 ? 0 : s > 1 ? 1 : s;
  const dx = wx - s * vx;
  const dy = wy - s * vy;
  const dz = wz - s * vz;
  return Math.sqrt(dx * dx + dy * dy + dz * dz);
}

function smooth(edge0: number, edge1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - edge0) / (edge1 - edge0)));
  return t * t * (3 - 2 * t);
}

/** Renders slice k (HU, before noise and quantisation) into `out` (matrix × matrix), plus the lung mask. */
function renderSlice(m: Model, k: number, out: Float32Array, lung: Uint8Array): void {
  const p = m.profile;
  const n = p.matrix;
  const ps = p.pixelSpacingMm;
  const z = m.z0 + k * m.spacing;
  const section = lungSection(m, z);
  const heartDz = (z - m.heart.c[2]) / m.heart.r[2];
  const heartScale = Math.abs(heartDz) < 1 ? Math.sqrt(1 - heartDz * heartDz) : 0;
  const inThorax = z > m.lungBase - m.dome - 20 && z < m.lungTop + 10;
  const sternum = z > m.lungBase + 0.15 * (m.lungTop - m.lungBase) && z < m.lungTop - 20;
  const discPhase = ((z - m.z0) % 28 + 28) % 28;
  const disc = discPhase < 6;
  const aortaArchZ = m.lungBase + 0.78 * (m.lungTop - m.lungBase);
  lung.fill(0);
  for (let i = 0; i < n; i++) {
    const y = m.origin[1] + i * ps;
    for (let j = 0; j < n; j++) {
      const x = m.origin[0] + j * ps;
      const o = i * n + j;
      let hu = -1000;
      // Table: a curved carbon shell with foam, under the patient.
      const tableTop = m.cy + m.bodyB + 6 + 0.0006 * x * x;
      if (y > tableTop && y < tableTop + 40 && Math.abs(x) < 230) {
        const d = y - tableTop;
        hu = d < 3 || d > 37 ? 250 : -880;
      }
      const ex = x / m.bodyA;
      const ey = (y - m.cy) / m.bodyB;
      const r2 = ex * ex + ey * ey;
      if (r2 < 1) {
        // Skin and subcutaneous fat, then muscle.
        const depth = (1 - Math.sqrt(r2)) * Math.min(m.bodyA, m.bodyB);
        hu = depth < 2 ? 30 : depth < m.fat ? -100 : 45;
        // Rib cage ring.
        const rx = x / m.ribA;
        const ry = (y - m.cy) / m.ribB;
        const rr = Math.sqrt(rx * rx + ry * ry);
        const ringDist = (rr - 1) * Math.min(m.ribA, m.ribB);
        const inside = rr < 1;
        if (inThorax && Math.abs(ringDist) < 5) {
          const theta = Math.atan2(y - m.cy, Math.abs(x));
          // Ribs run down from the spine to the front: their height depends on the angle.
          const phase = (((z + m.ribPhase + 40 * (1 - Math.sin(theta))) % m.ribPitch) + m.ribPitch) % m.ribPitch;
          if (phase < 11 && Math.abs(x) > 25) hu = Math.abs(ringDist) > 3 ? 750 : 250;
        }
        if (inside && ringDist < -4) {
          hu = -70; // mediastinal fat by default inside the cage
          // Spine: vertebral body, canal, posterior arch.
          const vx = x;
          const vy = y - m.spineY;
          const vr = Math.sqrt(vx * vx + (vy + 8) * (vy + 8));
          if (vr < 18) hu = disc ? 85 : vr > 15.5 ? 800 : 260;
          const canal = Math.sqrt(vx * vx + (vy - 18) * (vy - 18));
          if (canal < 8) hu = 15;
          else if (canal < 13 && !disc) hu = 650;
          // Sternum.
          if (sternum && Math.abs(x) < 14 && Math.abs(y - (m.cy - m.ribB + 10)) < 6) hu = Math.abs(y - (m.cy - m.ribB + 10)) > 4 ? 700 : 300;
          // Descending aorta beside the spine, ascending aorta and arch above the heart.
          if (inThorax && (x - 24) ** 2 + (y - m.spineY + 28) ** 2 < 144) hu = 45;
          if (z > m.heart.c[2] && z < aortaArchZ && (x - 4) ** 2 + (y - m.cy + 22) ** 2 < 196) hu = 45;
          if (Math.abs(z - aortaArchZ) < 12 && x > 0 && x < 28 && y > m.cy - 30 && y < m.spineY - 20) hu = 45;
          // Heart.
          if (heartScale > 0) {
            const hx = (x - m.heart.c[0]) / (m.heart.r[0] * heartScale);
            const hy = (y - m.heart.c[1]) / (m.heart.r[1] * heartScale);
            const h2 = hx * hx + hy * hy;
            if (h2 < 1) hu = h2 > 0.8 ? 50 : 38;
            else if (h2 < 1.15) hu = -90; // pericardial fat
          }
          // Lungs.
          if (section) {
            const side = x < 0 ? -1 : 1;
            const lx = (x - side * m.lungCx) / section.a;
            const ly = (y - m.lungCy) / section.b;
            const l2 = lx * lx + ly * ly;
            const heartHere = heartScale > 0 && ((x - m.heart.c[0]) / (m.heart.r[0] * heartScale * 1.15)) ** 2 + ((y - m.heart.c[1]) / (m.heart.r[1] * heartScale * 1.15)) ** 2 < 1;
            const floor = l2 < 1.3 ? diaphragm(m, x, y) : 0;
            if (l2 < 1 && !heartHere && z > floor && Math.abs(x) > 18) {
              lung[o] = 1;
              const gravity = 45 * smooth(-0.6, 1, ly);
              hu = -870 + gravity + 25 * m.texture.sample(x, y, z);
            } else if (l2 < 1.3 && z < floor + 2) {
              // Under the diaphragm: liver on the right, stomach (with an air cap) and spleen on the left.
              if (side < 0) hu = 58;
              else hu = z > floor - 25 && y < m.lungCy ? -1000 : 35;
            }
          } else if (z < m.lungBase && Math.abs(x) > 20) {
            hu = x < 0 ? 58 : 38;
          }
        }
      }
      out[o] = hu;
    }
  }
  drawPathology(m, z, out, lung);
  // Vessels with a one-pixel partial-volume edge; airway lumens (air) with a thin wall.
  drawTubes(m, m.vessels, z, out, lung, (d, r, cur) => {
    const a = Math.min(1, Math.max(0, r + 0.5 - d));
    return a > 0 ? cur + (Math.max(cur, 40) - cur) * a : cur;
  });
  drawTubes(m, m.airways, z, out, lung, (d, r, cur) => (d < r ? -985 : d < r + 1.6 ? Math.max(cur, 20) : cur), true);
}

function drawPathology(m: Model, z: number, out: Float32Array, lung: Uint8Array): void {
  const p = m.profile;
  const n = p.matrix;
  const ps = p.pixelSpacingMm;
  for (const les of m.lesions) {
    const [cx, cy, cz] = les.centerMm;
    const [rx, ry, rz] = les.radiiMm;
    const dz = (z - cz) / rz;
    if (Math.abs(dz) >= 1.25) continue;
    const sign = les.side === 'right' ? -1 : 1;
    const lobe = m.capLobe;
    const x0 = Math.max(0, Math.floor((cx - 1.25 * rx - m.origin[0]) / ps));
    const x1 = Math.min(n - 1, Math.ceil((cx + 1.25 * rx - m.origin[0]) / ps));
    const y0 = Math.max(0, Math.floor((cy - 1.25 * ry - m.origin[1]) / ps));
    const y1 = Math.min(n - 1, Math.ceil((cy + 1.25 * ry - m.origin[1]) / ps));
    for (let i = y0; i <= y1; i++) {
      const y = m.origin[1] + i * ps;
      for (let j = x0; j <= x1; j++) {
        const o = i * n + j;
        if (!lung[o]) continue;
        const x = m.origin[0] + j * ps;
        if (Math.sign(x) !== sign) continue;
        let alpha: number;
        if (lobe && !lobe.segment && les.kind === 'consolidation' && m.lesions.length === 1) {
          // Lobar: everything below an oblique fissure plane in that lung.
          const fissure = lobe.zTop - lobe.tilt * (y - m.lungCy) * 1.2;
          alpha = 1 - smooth(fissure - 6, fissure + 6, z);
        } else {
          const ex = (x - cx) / rx;
          const ey = (y - cy) / ry;
          const d = Math.sqrt(ex * ex + ey * ey + dz * dz) + 0.18 * m.lesionTexture.sample(x, y, z);
          alpha = 1 - smooth(0.75, 1.05, d);
        }
        if (alpha <= 0) continue;
        const texture = les.kind === 'ground-glass' ? 60 * m.lesionTexture.sample(x * 2, y * 2, z) : 30 * m.lesionTexture.sample(x, y, z * 2);
        const target = les.hu + texture;
        const cur = out[o] as number;
        out[o] = cur + (Math.max(cur, target) - cur) * alpha;
      }
    }
  }
}

function drawTubes(
  m: Model,
  tubes: Tube[],
  z: number,
  out: Float32Array,
  lung: Uint8Array,
  paint: (d: number, r: number, cur: number) => number,
  everywhere = false,
): void {
  const n = m.profile.matrix;
  const ps = m.profile.pixelSpacingMm;
  for (const t of tubes) {
    const reach = t.r + 2;
    if (z < Math.min(t.a[2], t.b[2]) - reach || z > Math.max(t.a[2], t.b[2]) + reach) continue;
    const x0 = Math.max(0, Math.floor((Math.min(t.a[0], t.b[0]) - reach - m.origin[0]) / ps));
    const x1 = Math.min(n - 1, Math.ceil((Math.max(t.a[0], t.b[0]) + reach - m.origin[0]) / ps));
    const y0 = Math.max(0, Math.floor((Math.min(t.a[1], t.b[1]) - reach - m.origin[1]) / ps));
    const y1 = Math.min(n - 1, Math.ceil((Math.max(t.a[1], t.b[1]) + reach - m.origin[1]) / ps));
    for (let i = y0; i <= y1; i++) {
      const y = m.origin[1] + i * ps;
      for (let j = x0; j <= x1; j++) {
        const o = i * n + j;
        if (!lung[o] && !(everywhere && t.r >= 6)) continue;
        const d = segmentDistance(t, m.origin[0] + j * ps, y, z);
        if (d < reach) out[o] = paint(d, t.r, out[o] as number);
      }
    }
  }
}

/** Adds noise, rounds to the stored grid, clips to what the profile can store, blanks outside the reconstruction circle. */
function finishSlice(m: Model, k: number, plane: Float32Array): void {
  const p = m.profile;
  const rnd = mulberry32(hashSeed('noise', m.seed, k));
  const lo = p.signed ? -(2 ** (p.bitsStored - 1)) + p.rescaleIntercept : p.rescaleIntercept;
  const hi = p.signed ? 2 ** (p.bitsStored - 1) - 1 + p.rescaleIntercept : 2 ** p.bitsStored - 1 + p.rescaleIntercept;
  const n = p.matrix;
  const fovR = (n * p.pixelSpacingMm) / 2;
  const c = (n - 1) / 2;
  const rPx2 = (fovR / p.pixelSpacingMm) ** 2;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const o = i * n + j;
      if ((i - c) ** 2 + (j - c) ** 2 > rPx2) {
        plane[o] = p.paddingValue !== undefined ? -1000 : Math.max(lo, -1024);
        continue;
      }
      // Sum of four uniforms: close enough to Gaussian noise, and cheap.
      const g = (rnd() + rnd() + rnd() + rnd() - 2) * 1.7320508;
      let v = Math.round((plane[o] as number) + g * p.noiseHu);
      if (v < lo) v = lo;
      if (v > hi) v = hi;
      plane[o] = v;
    }
  }
}

/**
 * Generates a seeded synthetic chest CT study. The HU are exactly those a DICOM reader gets back
 * from writePhantomDicom (integers, clipped to the profile's storage, padding read as -1000).
 * The 'tiny' profile (256², 30 slices) takes well under a second.
 */
export function generatePhantomStudy(options: PhantomOptions): PhantomStudy {
  if (!isClassName(options.cls)) {
    throw new DicomError(`unknown class "${String(options.cls)}"; use ${CLASS_NAMES.join(', ')}`, 'invalid-argument');
  }
  if (!Number.isInteger(options.seed)) throw new DicomError(`seed must be an integer, got ${options.seed}`, 'invalid-argument');
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
