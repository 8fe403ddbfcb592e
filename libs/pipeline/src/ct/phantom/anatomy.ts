import { mulberry32, sha256Seed } from '../../random';
import { placePathology } from './pathology';
import type { Model, Tube } from './model';
import { scannerProfile } from './scanners';
import type { PhantomOptions } from './types';
import { ValueNoise } from './value-noise';

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

export function buildModel(options: PhantomOptions): Model {
  const profile = scannerProfile(options.scanner);
  // Anatomy depends on the seed only: the same seed gives the same patient in every class.
  const rnd = mulberry32(sha256Seed('anatomy', options.seed));
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
    lesions: [], texture: new ValueNoise(sha256Seed('texture', options.seed), 9),
    lesionTexture: new ValueNoise(sha256Seed('lesion-texture', options.seed), 4), seed: options.seed,
  };
  placePathology(model, options.cls, mulberry32(sha256Seed('pathology', options.seed, options.cls)));
  return model;
}
