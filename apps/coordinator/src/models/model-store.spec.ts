import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { splitIntoChunks } from '@fedct/crypto';
import { FileStorage } from '../core/storage';
import { ModelStore } from './model-store';

const dir = mkdtempSync(join(tmpdir(), 'fedct-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function blob(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7) & 0xff;
  return out;
}

describe(ModelStore.name, () => {
  it('serves chunks and manifests equal to splitIntoChunks, also after other blobs evicted it from memory', () => {
    const store = new ModelStore(new FileStorage(dir));
    const blobs = [blob(10_000, 1), blob(7_001, 2), blob(5_000, 3)];
    const shas = blobs.map((b) => store.put(b));
    const chunkSize = 1024;
    // Interleave reads of three blobs (more than cachedBlobs) so every read path is taken.
    for (let round = 0; round < 2; round++) {
      for (let b = 0; b < blobs.length; b++) {
        const expected = splitIntoChunks(blobs[b]!, chunkSize);
        expect(store.chunkManifest(shas[b]!, chunkSize)).toEqual(expected.manifest);
        for (let i = 0; i < expected.manifest.count; i++) expect(Buffer.from(store.readChunk(shas[b]!, i, chunkSize)).equals(Buffer.from(expected.chunks[i]!))).toBe(true);
      }
    }
    expect(store.readChunk(shas[1]!, 99, chunkSize).length).toBe(0);
  });

  it('reads chunks of a blob above maxCachedBlobBytes from the file', () => {
    const store = new ModelStore(new FileStorage(dir));
    const bytes = blob(9_000, 4);
    const sha = store.put(bytes);
    const limit = ModelStore.maxCachedBlobBytes;
    Object.defineProperty(ModelStore, 'maxCachedBlobBytes', { value: 4_096, configurable: true });
    try {
      const expected = splitIntoChunks(bytes, 4_000);
      for (let i = 0; i < expected.manifest.count; i++) {
        const chunk = store.readChunk(sha, i, 4_000);
        expect(chunk.buffer.byteLength).toBe(chunk.length); // its own copy, not a view into a cached blob
        expect(Buffer.from(chunk).equals(Buffer.from(expected.chunks[i]!))).toBe(true);
      }
    } finally {
      Object.defineProperty(ModelStore, 'maxCachedBlobBytes', { value: limit, configurable: true });
    }
  });
});
