import { describe, expect, it } from 'vitest';
import { encodeModelBlob, type ModelManifest } from '@fedct/protocol';
import { checkUpdatePayload, firstNonFinite, l2Distance } from './update-check';

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
