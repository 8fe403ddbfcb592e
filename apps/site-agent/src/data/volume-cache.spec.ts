import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VolumeCache } from './volume-cache';

describe(VolumeCache.name, () => {
  it('stores raw little-endian floats under their sha256 and reads them back', () => {
    const cache = new VolumeCache(mkdtempSync(join(tmpdir(), 'fedct-cache-')));
    const data = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i / 7);
    const sha = cache.put(data, [2, 3, 4], [1, 1, 1]);
    const raw = readFileSync(join(cache.dir, `${sha}.f32`));
    expect(createHash('sha256').update(raw).digest('hex')).toBe(sha);
    expect(raw.readFloatLE(4)).toBeCloseTo(1 / 7, 6);
    expect(statSync(join(cache.dir, `${sha}.f32`)).mode & 0o077).toBe(0);
    const back = cache.get(sha);
    expect(Array.from(back.data)).toEqual(Array.from(data));
    expect(back.header.shape).toEqual([2, 3, 4]);
    expect(cache.put(data, [2, 3, 4], [1, 1, 1])).toBe(sha);
  });

  it('refuses a wrong shape and detects a corrupted file', () => {
    const cache = new VolumeCache(mkdtempSync(join(tmpdir(), 'fedct-cache-')));
    expect(() => cache.put(new Float32Array(5), [2, 3], [1, 1])).toThrow(/needs 6 floats/);
    const sha = cache.put(new Float32Array(6).fill(1), [2, 3], [1, 1]);
    writeFileSync(join(cache.dir, `${sha}.f32`), Buffer.alloc(24));
    expect(() => cache.get(sha)).toThrow(/corrupt/);
    expect(() => cache.get('b'.repeat(64))).toThrow(/missing/);
  });
});
