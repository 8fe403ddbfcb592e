import { describe, expect, it } from 'vitest';
import { decodeModelBlob, encodeModelBlob, sha256Hex, type ModelManifest } from './model-blob';
import { ProtocolError } from './errors';

const manifest: ModelManifest = {
  model: 'toy',
  config: { width: 2 },
  tensors: [
    { name: 'dense/kernel', shape: [2, 3] },
    { name: 'dense/bias', shape: [3] },
  ],
};

describe(encodeModelBlob.name, () => {
  it('round-trips the manifest and every float exactly', () => {
    const weights = Float32Array.from([1.5, -2, 3e-8, Number.MAX_VALUE, -0, 7, 8, 9, 1 / 3]);
    const decoded = decodeModelBlob(encodeModelBlob({ manifest, weights }));
    expect(decoded.manifest).toEqual(manifest);
    expect(Array.from(decoded.weights)).toEqual(Array.from(weights));
  });

  it('writes the documented layout (magic, version, little-endian floats)', () => {
    const bytes = encodeModelBlob({ manifest: { model: 'm', config: {}, tensors: [{ name: 'w', shape: [1] }] }, weights: Float32Array.from([1]) });
    expect(Buffer.from(bytes.subarray(0, 4)).toString('latin1')).toBe('FCTM');
    expect(Array.from(bytes.subarray(bytes.length - 4))).toEqual([0x00, 0x00, 0x80, 0x3f]);
    expect(sha256Hex(bytes)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a weight count that does not match the manifest', () => {
    expect(() => encodeModelBlob({ manifest, weights: new Float32Array(8) })).toThrow(ProtocolError);
  });

  it('refuses truncated or foreign bytes', () => {
    const bytes = encodeModelBlob({ manifest, weights: new Float32Array(9) });
    expect(() => decodeModelBlob(bytes.subarray(0, bytes.length - 1))).toThrow(/floats/);
    expect(() => decodeModelBlob(new Uint8Array(20))).toThrow(/magic/);
    expect(() => decodeModelBlob(new Uint8Array(3))).toThrow(/truncated/);
  });
});
