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

describe('decodeModelBlob with view: true', () => {
  const odd: ModelManifest = { model: 'toy', config: { width: 3 }, tensors: [{ name: 'kernel', shape: [3, 5] }, { name: 'b', shape: [5] }] };
  const weights = Float32Array.from({ length: 20 }, (_, i) => Math.sin(i) * 1e3);

  it('decodes like decodeModelBlob, as a view into the bytes when aligned and as a copy when not', () => {
    const bytes = encodeModelBlob({ manifest: odd, weights });
    const viewed = decodeModelBlob(bytes, { view: true });
    expect(viewed).toEqual(decodeModelBlob(bytes));
    expect(viewed.weights.buffer).toBe(bytes.buffer);
    expect(Array.from(viewed.weights)).toEqual(Array.from(weights));
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const unaligned = decodeModelBlob(shifted.subarray(1), { view: true });
    expect(unaligned.weights.buffer).not.toBe(shifted.buffer);
    expect(Array.from(unaligned.weights)).toEqual(Array.from(weights));
  });

  it('refuses malformed blobs with the same errors as the copying decode', () => {
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
      expect(() => decodeModelBlob(bytes, { view: true })).toThrow(expected);
    }
  });
});
