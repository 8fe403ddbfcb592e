import { describe, expect, it } from 'vitest';
import { decodeModelBlob, encodeModelBlob, type ModelManifest } from '@fedct/protocol';
import { checkUpdatePayload, decodeModelBlobView, firstNonFinite, l2Distance } from './update-check';

const manifest: ModelManifest = { model: 'toy', config: {}, tensors: [{ name: 'w', shape: [2, 2] }] };
const base = Float32Array.from([0, 0, 0, 0]);

describe(checkUpdatePayload.name, () => {
  it('accepts a finite update of the right shape within the norm bound and reports its norm', () => {
    const result = checkUpdatePayload(encodeModelBlob({ manifest, weights: Float32Array.from([3, 4, 0, 0]) }), manifest.tensors, base, 5);
    expect(result.ok && result.norm).toBe(5);
  });

  it('rejects NaN, +Inf and -Inf', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const result = checkUpdatePayload(encodeModelBlob({ manifest, weights: Float32Array.from([0, bad, 0, 0]) }), manifest.tensors, base, null);
      expect(result).toMatchObject({ ok: false, verdict: { code: 'rejected_non_finite' } });
    }
  });

  it('rejects other shapes, other names and bytes that are not a model blob', () => {
    const reshaped = { ...manifest, tensors: [{ name: 'w', shape: [4] }] };
    expect(checkUpdatePayload(encodeModelBlob({ manifest: reshaped, weights: base }), manifest.tensors, base, null)).toMatchObject({ verdict: { code: 'rejected_shape' } });
    const renamed = { ...manifest, tensors: [{ name: 'v', shape: [2, 2] }] };
    expect(checkUpdatePayload(encodeModelBlob({ manifest: renamed, weights: base }), manifest.tensors, base, null)).toMatchObject({ verdict: { code: 'rejected_shape' } });
    expect(checkUpdatePayload(new Uint8Array(40), manifest.tensors, base, null)).toMatchObject({ verdict: { code: 'rejected_shape' } });
  });

  it('rejects an update beyond the norm bound', () => {
    const result = checkUpdatePayload(encodeModelBlob({ manifest, weights: Float32Array.from([3, 4, 0, 0.1]) }), manifest.tensors, base, 5);
    expect(result).toMatchObject({ ok: false, verdict: { code: 'rejected_norm' } });
  });

  it('finds the first non-finite index and the L2 distance', () => {
    expect(firstNonFinite(Float32Array.from([1, 2, Number.NaN, Number.NaN]))).toBe(2);
    expect(firstNonFinite(Float32Array.from([1, -0, 3.4e38]))).toBe(-1);
    expect(l2Distance(Float32Array.from([1, 1]), Float32Array.from([4, 5]))).toBe(5);
  });
});

describe(decodeModelBlobView.name, () => {
  const odd: ModelManifest = { model: 'toy', config: { width: 3 }, tensors: [{ name: 'kernel', shape: [3, 5] }, { name: 'b', shape: [5] }] };
  const weights = Float32Array.from({ length: 20 }, (_, i) => Math.sin(i) * 1e3);

  it('decodes like decodeModelBlob, as a view into the bytes when aligned and as a copy when not', () => {
    const bytes = encodeModelBlob({ manifest: odd, weights });
    const viewed = decodeModelBlobView(bytes);
    expect(viewed).toEqual(decodeModelBlob(bytes));
    expect(viewed.weights.buffer).toBe(bytes.buffer);
    expect(Array.from(viewed.weights)).toEqual(Array.from(weights));
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const unaligned = decodeModelBlobView(shifted.subarray(1));
    expect(unaligned.weights.buffer).not.toBe(shifted.buffer);
    expect(Array.from(unaligned.weights)).toEqual(Array.from(weights));
  });

  it('refuses malformed blobs with decodeModelBlob\'s own errors', () => {
    const good = encodeModelBlob({ manifest: odd, weights });
    const badMagic = good.slice();
    badMagic[0] = 0;
    const badVersion = good.slice();
    badVersion[4] = 9;
    const badHeader = good.slice();
    badHeader[12] = 0x7b + 1; // not JSON any more
    const cases = [good.subarray(0, 8), badMagic, badVersion, badHeader, good.subarray(0, good.length - 4), new Uint8Array([...good, 0, 0, 0, 0])];
    for (const bytes of cases) {
      let expected = '';
      try {
        decodeModelBlob(bytes);
      } catch (error) {
        expected = (error as Error).message;
      }
      expect(expected).not.toBe('');
      expect(() => decodeModelBlobView(bytes)).toThrow(expected);
    }
  });
});
