import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNifti } from '@fedct/pipeline';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNifti1 } from './nifti-writer';

const dir = mkdtempSync(join(tmpdir(), 'fedct-nifti-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe(encodeNifti1.name, () => {
  it('round-trips through the pipeline NIfTI reader with the same voxel order and spacing', async () => {
    const shape: [number, number, number] = [3, 4, 5];
    const data = Float32Array.from({ length: 60 }, (_, i) => i * 1.5 - 20);
    const file = join(dir, 'v.nii');
    writeFileSync(file, encodeNifti1({ data, shape, spacingMm: [2.5, 0.75, 0.8] }));

    const back = await readNifti(file);

    expect(back.shape).toEqual(shape);
    expect(back.spacingMm[0]).toBeCloseTo(2.5, 6);
    expect(back.spacingMm[1]).toBeCloseTo(0.75, 6);
    expect(back.spacingMm[2]).toBeCloseTo(0.8, 6);
    expect(Array.from(back.hu)).toEqual(Array.from(data));
  });

  it('writes a 352-byte header with the NIfTI-1 magic, Float32 type and display range', () => {
    const out = encodeNifti1({ data: new Float32Array(8), shape: [2, 2, 2], spacingMm: [1, 1, 1] }, { calMin: -0.5, calMax: 2 });

    expect(out.length).toBe(352 + 32);
    expect(out.readInt32LE(0)).toBe(348);
    expect(out.toString('latin1', 344, 347)).toBe('n+1');
    expect(out.readInt16LE(70)).toBe(16);
    expect(out.readFloatLE(108)).toBe(352);
    expect(out.readFloatLE(124)).toBe(2);
    expect(out.readFloatLE(128)).toBe(-0.5);
  });

  it('refuses data whose length does not match the shape', () => {
    expect(() => encodeNifti1({ data: new Float32Array(7), shape: [2, 2, 2], spacingMm: [1, 1, 1] })).toThrow(/needs 8/);
  });
});
