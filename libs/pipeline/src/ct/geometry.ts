/** Slice ordering and spacing checks for one series (spec §1 step 1). */
import { DicomError } from './errors';
import type { FrameHeader } from './dicom-file';
import type { StudyGeometry } from './types';

/** The frames of a series, sorted and checked, with what was corrected or doubtful. */
export interface SortedSeries {
  frames: FrameHeader[];
  rows: number;
  columns: number;
  /** [row spacing (y), column spacing (x)], mm. */
  pixelSpacing: [number, number];
  /** Median distance between neighbouring slices, mm. */
  sliceSpacing: number;
  geometry: StudyGeometry;
  warnings: string[];
}

type Vec3 = [number, number, number];

function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}
function dot(a: Vec3, b: Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
function normalize(a: Vec3): Vec3 {
  const n = Math.hypot(a[0], a[1], a[2]) || 1;
  return [a[0] / n, a[1] / n, a[2] / n];
}

function majority<T>(items: T[], key: (t: T) => string): { kept: T[]; dropped: number; key: string } {
  const counts = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = counts.get(k);
    if (list) list.push(it);
    else counts.set(k, [it]);
  }
  let best: [string, T[]] = ['', []];
  for (const entry of counts) if (entry[1].length > best[1].length) best = entry;
  return { kept: best[1], dropped: items.length - best[1].length, key: best[0] };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

/** Slice normal of an ImageOrientationPatient (row × column direction). */
export function sliceNormal(iop: readonly number[]): Vec3 {
  const row = normalize([iop[0] ?? 1, iop[1] ?? 0, iop[2] ?? 0]);
  const col = normalize([iop[3] ?? 0, iop[4] ?? 1, iop[5] ?? 0]);
  return normalize(cross(row, col));
}

/** Angle in degrees between the slice normal and the patient's head-foot axis. */
export function obliquityDegrees(iop: readonly number[]): number {
  return (Math.acos(Math.min(1, Math.abs(sliceNormal(iop)[2]))) * 180) / Math.PI;
}

/** Series whose slices are more than this far from axial are not used (sagittal, coronal). */
export const MAX_OBLIQUITY_DEGREES = 30;

const fmt = (v: number): string => (Math.round(v * 100) / 100).toString();

/**
 * Sorts a series' frames along the slice normal and checks its geometry. Corrects what can be
 * corrected (drops duplicates and off-size slices, resamples uneven spacing from the real positions,
 * shifts tilted slices), warns about it, and throws DicomError where the series cannot be used.
 */
export function sortSeries(input: FrameHeader[]): SortedSeries {
  const warnings: string[] = [];
  let frames = input;

  const size = majority(frames, (f) => `${f.rows}x${f.columns}`);
  if (size.dropped > 0) {
    warnings.push(`mixed matrix sizes: kept ${size.kept.length} slices of ${size.key}, dropped ${size.dropped} of other sizes`);
    frames = size.kept;
  }
  const withIop = frames.filter((f) => f.imageOrientation);
  let iop: readonly number[] = [1, 0, 0, 0, 1, 0];
  if (withIop.length > 0) {
    const orient = majority(withIop, (f) => (f.imageOrientation ?? []).map((v) => v.toFixed(3)).join('\\'));
    if (orient.dropped > 0 || withIop.length < frames.length) {
      const dropped = frames.length - orient.kept.length;
      warnings.push(`mixed slice orientations: dropped ${dropped} slices that differ from the main orientation`);
      frames = orient.kept;
    }
    iop = orient.kept[0]?.imageOrientation ?? iop;
  } else {
    warnings.push('ImageOrientationPatient missing: assumed axial');
  }
  const tilt = obliquityDegrees(iop);
  if (tilt > MAX_OBLIQUITY_DEGREES) {
    throw new DicomError(
      `the series is not axial (slice plane ${fmt(tilt)}° from axial, e.g. sagittal or coronal); export the axial series`,
      'bad_geometry',
    );
  }
  if (tilt > 1) warnings.push(`slices are oblique (${fmt(tilt)}° from axial); treated as axial`);
  const rowDir = normalize([iop[0] ?? 1, iop[1] ?? 0, iop[2] ?? 0]);
  const colDir = normalize([iop[3] ?? 0, iop[4] ?? 1, iop[5] ?? 0]);
  const normal = sliceNormal(iop);
  // Keep z increasing towards the head whatever the sign of row × column.
  const sign = normal[2] < 0 ? -1 : 1;

  let spacing: [number, number] | undefined;
  const withSpacing = frames.filter((f) => f.pixelSpacing);
  if (withSpacing.length > 0) {
    const sp = majority(withSpacing, (f) => (f.pixelSpacing ?? [0, 0]).map((v) => v.toFixed(4)).join('\\'));
    if (sp.kept.length < frames.length) {
      warnings.push(`mixed pixel spacing: dropped ${frames.length - sp.kept.length} slices that differ`);
      frames = sp.kept;
    }
    spacing = sp.kept[0]?.pixelSpacing;
  }
  if (!spacing || !(spacing[0] > 0 && spacing[1] > 0)) {
    warnings.push('PixelSpacing missing: assumed 1 mm');
    spacing = [1, 1];
  }

  // Position of each frame along the normal.
  let positionOf: (f: FrameHeader) => number;
  if (frames.every((f) => f.imagePosition)) {
    positionOf = (f) => sign * dot(f.imagePosition as Vec3, normal);
  } else if (frames.every((f) => f.sliceLocation !== undefined)) {
    warnings.push('ImagePositionPatient missing: slices ordered by SliceLocation');
    positionOf = (f) => f.sliceLocation ?? 0;
  } else if (frames.every((f) => f.instanceNumber !== undefined) && frames[0]?.sliceThickness) {
    warnings.push('slice positions missing: ordered by InstanceNumber, spaced by SliceThickness');
    const t = frames[0].sliceThickness;
    positionOf = (f) => (f.instanceNumber ?? 0) * t;
  } else {
    throw new DicomError('slice positions are missing (no ImagePositionPatient, SliceLocation or InstanceNumber + SliceThickness)', 'bad_geometry');
  }
  const keyed = frames.map((f) => ({ f, p: positionOf(f) }));
  keyed.sort((a, b) => a.p - b.p || (a.f.instanceNumber ?? 0) - (b.f.instanceNumber ?? 0));

  const unique: typeof keyed = [];
  for (const k of keyed) {
    const last = unique[unique.length - 1];
    if (last && Math.abs(k.p - last.p) < 0.01) continue;
    unique.push(k);
  }
  if (unique.length < keyed.length) {
    warnings.push(`${keyed.length - unique.length} slices at duplicate positions dropped`);
  }
  if (unique.length < 2) {
    throw new DicomError(
      `the series has ${unique.length} slice${unique.length === 1 ? '' : 's'} at distinct positions; a CT study needs at least 2 (export the whole series)`,
      'too_few_slices',
    );
  }

  const positions = Float64Array.from(unique, (k) => k.p);
  const diffs: number[] = [];
  for (let i = 1; i < positions.length; i++) diffs.push((positions[i] ?? 0) - (positions[i - 1] ?? 0));
  const d = median(diffs);
  let missing = 0;
  let uneven = false;
  for (const g of diffs) {
    const ratio = g / d;
    if (Math.abs(ratio - 1) <= 0.1) continue;
    const steps = Math.round(ratio);
    if (steps >= 2 && Math.abs(ratio - steps) <= 0.1) missing += steps - 1;
    else uneven = true;
  }
  if (missing > 0) warnings.push(`${missing} missing slice${missing === 1 ? '' : 's'} (gaps in the ${fmt(d)} mm spacing): interpolated across the gaps`);
  if (uneven) {
    warnings.push(`uneven slice spacing (${fmt(Math.min(...diffs))} to ${fmt(Math.max(...diffs))} mm): resampled from the real slice positions`);
  }

  const shifts = new Float64Array(2 * unique.length);
  const first = unique[0]?.f.imagePosition;
  if (first && unique.every((k) => k.f.imagePosition)) {
    let maxShiftPx = 0;
    for (let i = 0; i < unique.length; i++) {
      const ipp = unique[i]?.f.imagePosition as Vec3;
      const delta: Vec3 = [ipp[0] - first[0], ipp[1] - first[1], ipp[2] - first[2]];
      const dy = dot(delta, colDir);
      const dx = dot(delta, rowDir);
      shifts[2 * i] = dy;
      shifts[2 * i + 1] = dx;
      maxShiftPx = Math.max(maxShiftPx, Math.abs(dy) / spacing[0], Math.abs(dx) / spacing[1]);
    }
    if (maxShiftPx > 0.5) {
      const span = (positions[positions.length - 1] ?? 0) - (positions[0] ?? 0);
      const last = 2 * (unique.length - 1);
      const drift = Math.hypot(shifts[last] ?? 0, shifts[last + 1] ?? 0);
      const angle = (Math.atan2(drift, span) * 180) / Math.PI;
      warnings.push(`gantry tilt or table shift (${fmt(angle)}°, up to ${fmt(maxShiftPx)} pixels): slices shifted back into line`);
    } else {
      shifts.fill(0);
    }
  }

  return {
    frames: unique.map((k) => k.f),
    rows: unique[0]?.f.rows ?? 0,
    columns: unique[0]?.f.columns ?? 0,
    pixelSpacing: spacing,
    sliceSpacing: d,
    geometry: { positionsMm: positions, inPlaneShiftMm: shifts },
    warnings,
  };
}
