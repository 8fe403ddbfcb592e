import { describe, expect, it } from 'vitest';
import type { FrameHeader } from './dicom-file';
import { DicomError } from './errors';
import { obliquityDegrees, sortSeries } from './geometry';

function frame(z: number, extra: Partial<FrameHeader> = {}): FrameHeader {
  return {
    file: `f${z}`, frame: 0, seriesInstanceUid: '1.2', imageType: [], transferSyntax: '1.2.840.10008.1.2.1',
    rows: 4, columns: 4, bitsAllocated: 16, bitsStored: 16, pixelRepresentation: 1, samplesPerPixel: 1,
    photometric: 'MONOCHROME2', slope: 1, intercept: 0, pixelSpacing: [0.5, 0.5], sliceThickness: 2,
    imagePosition: [-10, -20, z], imageOrientation: [1, 0, 0, 0, 1, 0], numberOfFrames: 1, hasPixelData: true,
    ...extra,
  };
}

describe(sortSeries.name, () => {
  it('sorts shuffled slices by position along the normal, feet first', () => {
    const s = sortSeries([frame(4), frame(0), frame(8), frame(2), frame(6)]);
    expect(Array.from(s.geometry.positionsMm)).toEqual([0, 2, 4, 6, 8]);
    expect(s.frames.map((f) => f.file)).toEqual(['f0', 'f2', 'f4', 'f6', 'f8']);
    expect(s.sliceSpacing).toBe(2);
    expect(s.pixelSpacing).toEqual([0.5, 0.5]);
    expect(s.warnings).toEqual([]);
  });

  it('drops duplicate positions with a warning', () => {
    const s = sortSeries([frame(0), frame(2), frame(2, { file: 'dup' }), frame(4)]);
    expect(s.frames).toHaveLength(3);
    expect(s.warnings.join()).toMatch(/1 slices at duplicate positions dropped/);
  });

  it('reports missing slices and keeps the real positions for interpolation', () => {
    const s = sortSeries([0, 2, 4, 10, 12].map((z) => frame(z)));
    expect(Array.from(s.geometry.positionsMm)).toEqual([0, 2, 4, 10, 12]);
    expect(s.warnings.join()).toMatch(/2 missing slices/);
  });

  it('reports uneven spacing that is not a gap', () => {
    const s = sortSeries([0, 2, 4, 5, 7, 9].map((z) => frame(z)));
    expect(s.warnings.join()).toMatch(/uneven slice spacing \(1 to 2 mm\)/);
  });

  it('keeps the majority matrix size and says how many slices were dropped', () => {
    const s = sortSeries([frame(0), frame(2), frame(4), frame(6, { rows: 8, columns: 8 })]);
    expect(s.frames).toHaveLength(3);
    expect(s.warnings.join()).toMatch(/mixed matrix sizes: kept 3 slices of 4x4, dropped 1/);
  });

  it('measures gantry tilt and records the shift that puts slices back in line', () => {
    // Each slice 2 mm higher is 1 mm further posterior: atan(1/2) = 26.57°.
    const s = sortSeries([0, 1, 2, 3].map((k) => frame(2 * k, { imagePosition: [-10, -20 + k, 2 * k] })));
    expect(Array.from(s.geometry.inPlaneShiftMm)).toEqual([0, 0, 1, 0, 2, 0, 3, 0]);
    expect(s.warnings.join()).toMatch(/gantry tilt or table shift \(26\.57°/);
  });

  it('orders by SliceLocation when positions are missing', () => {
    const s = sortSeries([5, 1, 3].map((z) => frame(0, { imagePosition: undefined, sliceLocation: z, file: `s${z}` })));
    expect(s.frames.map((f) => f.file)).toEqual(['s1', 's3', 's5']);
    expect(s.warnings.join()).toMatch(/SliceLocation/);
  });

  it('refuses a sagittal series', () => {
    const sag = [0, 2, 4].map((x) => frame(0, { imagePosition: [x, 0, 0], imageOrientation: [0, 1, 0, 0, 0, -1] }));
    expect(() => sortSeries(sag)).toThrow(/not axial/);
  });

  it('refuses a single slice', () => {
    try {
      sortSeries([frame(0)]);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(DicomError);
      expect((error as DicomError).code).toBe('too_few_slices');
    }
  });

  it('keeps z increasing towards the head when row × column points to the feet', () => {
    // Row +x, column -y: normal = -z. Positions must still ascend with patient z.
    const s = sortSeries([4, 0, 2].map((z) => frame(z, { imageOrientation: [1, 0, 0, 0, -1, 0] })));
    expect(s.frames.map((f) => f.imagePosition?.[2])).toEqual([0, 2, 4]);
  });
});

describe(obliquityDegrees.name, () => {
  it('is 0 for axial and 90 for coronal', () => {
    expect(obliquityDegrees([1, 0, 0, 0, 1, 0])).toBeCloseTo(0, 9);
    expect(obliquityDegrees([1, 0, 0, 0, 0, -1])).toBeCloseTo(90, 9);
  });
});
