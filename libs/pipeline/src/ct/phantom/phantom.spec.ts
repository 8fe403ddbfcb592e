import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generatePhantomStudy, generatePhantomVolume, SCANNER_PROFILES, writePhantomDicom, type PhantomStudy } from '.';
import { preprocessPath, preprocessStudy } from '../preprocess';
import { readStudy } from '../read-study';

const tmp = mkdtempSync(join(tmpdir(), 'fedct-phantom-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** HU at a point given in patient mm (nearest voxel). */
function huAt(s: PhantomStudy, [x, y, z]: [number, number, number]): number {
  const [, rows, cols] = s.shape;
  const k = Math.round((z - (s.geometry.positionsMm[0] ?? 0)) / s.spacingMm[0]);
  const i = Math.round((y - s.originMm[1]) / s.spacingMm[1]);
  const j = Math.round((x - s.originMm[0]) / s.spacingMm[2]);
  return s.hu[(k * rows + i) * cols + j] as number;
}

/** Fraction of voxels in [lo, hi] HU. */
function fraction(s: PhantomStudy, lo: number, hi: number): number {
  let n = 0;
  for (const v of s.hu) if (v >= lo && v <= hi) n++;
  return n / s.hu.length;
}

describe(generatePhantomStudy.name, () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const a = generatePhantomStudy({ cls: 'covid-19', seed: 11 });
    const b = generatePhantomStudy({ cls: 'covid-19', seed: 11 });
    const c = generatePhantomStudy({ cls: 'covid-19', seed: 12 });
    let differing = 0;
    for (let i = 0; i < a.hu.length; i++) if (a.hu[i] !== b.hu[i]) differing++;
    expect(differing).toBe(0);
    expect(a.lesions).toEqual(b.lesions);
    expect(c.lesions).not.toEqual(a.lesions);
  });

  it('keeps the patient of a seed across classes: pathology only adds density, in a small part of the volume', () => {
    const control = generatePhantomStudy({ cls: 'control', seed: 21 });
    for (const cls of ['covid-19', 'cap'] as const) {
      const sick = generatePhantomStudy({ cls, seed: 21 });
      expect(sick.shape).toEqual(control.shape);
      let changed = 0;
      let lower = 0;
      for (let i = 0; i < control.hu.length; i++) {
        const d = (sick.hu[i] as number) - (control.hu[i] as number);
        if (d !== 0) changed++;
        if (d < 0) lower++;
      }
      expect(lower).toBe(0);
      expect(changed).toBeGreaterThan(0.001 * control.hu.length);
      expect(changed).toBeLessThan(0.1 * control.hu.length);
    }
  });

  it('generates a tiny-profile study well under a second', () => {
    generatePhantomStudy({ cls: 'control', seed: 1 }); // warm-up (JIT)
    const t0 = performance.now();
    const s = generatePhantomStudy({ cls: 'cap', seed: 2 });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(s.shape[1]).toBe(256);
  });

  it('has air, lung, fat, soft tissue and bone in plausible amounts', () => {
    const s = generatePhantomStudy({ cls: 'control', seed: 3 });
    expect(fraction(s, -1024, -950)).toBeGreaterThan(0.1); // air around the patient
    expect(fraction(s, -950, -750)).toBeGreaterThan(0.04); // lung parenchyma
    expect(fraction(s, -150, -50)).toBeGreaterThan(0.02); // fat
    expect(fraction(s, 0, 100)).toBeGreaterThan(0.1); // muscle, heart, liver
    expect(fraction(s, 500, 1200)).toBeGreaterThan(0.002); // cortical bone
    expect(s.lesions).toEqual([]);
    expect(fraction(s, -650, -450)).toBeLessThan(0.01); // no ground glass
  });

  it('draws Covid-19 as bilateral peripheral ground glass, mostly in the lower half of the lungs', () => {
    let lower = 0;
    let total = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const s = generatePhantomStudy({ cls: 'covid-19', seed });
      const sides = new Set(s.lesions.map((l) => l.side));
      expect(sides).toEqual(new Set(['left', 'right']));
      expect(s.lesions.length).toBeGreaterThanOrEqual(3);
      const [base, apex] = s.lungZMm;
      for (const l of s.lesions) {
        total++;
        if (l.centerMm[2] < (base + apex) / 2) lower++;
        if (l.kind === 'ground-glass') {
          expect(l.hu).toBeGreaterThanOrEqual(-700);
          expect(l.hu).toBeLessThanOrEqual(-500);
        }
      }
      expect(fraction(s, -650, -450)).toBeGreaterThan(fraction(generatePhantomStudy({ cls: 'control', seed }), -650, -450) + 0.001);
    }
    expect(lower / total).toBeGreaterThan(0.65);
  });

  it('draws CAP as a unilateral consolidation near soft-tissue density', () => {
    const sides = new Set<string>();
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const s = generatePhantomStudy({ cls: 'cap', seed });
      expect(s.lesions).toHaveLength(1);
      const l = s.lesions[0];
      if (!l) throw new Error('no lesion');
      sides.add(l.side);
      expect(l.kind).toBe('consolidation');
      expect(l.hu).toBeGreaterThanOrEqual(-100);
      expect(l.hu).toBeLessThanOrEqual(50);
      const control = generatePhantomStudy({ cls: 'control', seed });
      // Consolidated lung: many more voxels between -150 and +100 HU on that side than in the control.
      expect(fraction(s, -150, 100)).toBeGreaterThan(fraction(control, -150, 100) + 0.002);
      // The lesion centre is dense unless it is a lobe (whose centre may sit on an air bronchogram).
      if (l.radiiMm[0] === l.radiiMm[1]) expect(huAt(s, l.centerMm)).toBeGreaterThan(-400);
    }
    expect(sides.size).toBe(2); // both sides occur across seeds
  });

  it('rejects an unknown scanner or class with a line naming the choices', () => {
    expect(() => generatePhantomStudy({ cls: 'control', seed: 1, scanner: 'nope' })).toThrow(/use one of: tiny/);
    expect(() => generatePhantomStudy({ cls: 'flu' as 'cap', seed: 1 })).toThrow(/control, covid-19, cap/);
  });

  it('offers profiles over the required ranges', () => {
    const p = Object.values(SCANNER_PROFILES);
    expect(p.length).toBeGreaterThanOrEqual(5);
    expect(Math.min(...p.map((x) => x.matrix))).toBe(256);
    expect(Math.max(...p.map((x) => x.matrix))).toBe(768);
    for (const x of p) {
      expect(x.pixelSpacingMm).toBeGreaterThanOrEqual(0.5);
      expect(x.pixelSpacingMm).toBeLessThanOrEqual(1);
      expect(x.sliceThicknessMm).toBeGreaterThanOrEqual(1);
      expect(x.sliceThicknessMm).toBeLessThanOrEqual(8);
    }
    expect(new Set(p.map((x) => x.rescaleIntercept))).toEqual(new Set([-1024, 0]));
    expect(new Set(p.map((x) => x.signed))).toEqual(new Set([true, false]));
  });
});

describe(writePhantomDicom.name, () => {
  it.each([
    ['tiny', undefined],
    ['toshiba-aquilion', 3], // intercept 0, signed, padding
    ['siemens-definition', 3], // 12-bit unsigned, intercept -1024
    ['philips-ingenuity', 2], // 768 matrix
  ] as const)('round-trips a %s study through DICOM exactly', async (scanner, slices) => {
    const study = generatePhantomStudy({ cls: 'covid-19', seed: 5, scanner, ...(slices ? { slices } : {}) });
    const dir = join(tmp, scanner);
    const files = await writePhantomDicom(study, dir);
    expect(readdirSync(dir)).toHaveLength(study.shape[0]);
    expect(files).toHaveLength(study.shape[0]);
    const back = await readStudy(dir);
    expect(back.shape).toEqual(study.shape);
    expect(back.spacingMm[1]).toBeCloseTo(study.spacingMm[1], 6);
    expect(back.spacingMm[0]).toBeCloseTo(study.spacingMm[0], 6);
    expect(back.series.seriesInstanceUid).toBe(study.series.seriesInstanceUid);
    expect(back.series.manufacturer).toBe(study.scanner.manufacturer);
    expect(back.warnings).toEqual([]);
    let differing = 0;
    for (let i = 0; i < study.hu.length; i++) if (back.hu[i] !== study.hu[i]) differing++;
    expect(differing).toBe(0);
    if (scanner === 'tiny') {
      const fromDisk = await preprocessPath(dir);
      const inMemory = await preprocessStudy(study);
      expect(fromDisk.shape).toEqual(inMemory.shape);
      let maxDiff = 0;
      for (let i = 0; i < inMemory.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs((fromDisk.data[i] as number) - (inMemory.data[i] as number)));
      expect(maxDiff).toBeLessThan(1e-6);
    }
  });
});

describe(generatePhantomVolume.name, () => {
  it('gives a model-ready volume in [0, 1] whose lesions show in the lung window', async () => {
    const covid = await generatePhantomVolume('covid-19', 4);
    const control = await generatePhantomVolume('control', 4);
    expect(covid.shape[1]).toBe(128);
    expect(covid.shape[2]).toBe(128);
    let min = Infinity;
    let max = -Infinity;
    for (const v of covid.data) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThanOrEqual(1);
    // Ground glass (-700..-450 HU) is 0.21..0.39 after normalisation: more of it with Covid-19.
    const count = (d: Float32Array): number => d.reduce((n, v) => n + (v > 0.21 && v < 0.39 ? 1 : 0), 0);
    expect(count(covid.data)).toBeGreaterThan(count(control.data) * 1.1);
  });
});
