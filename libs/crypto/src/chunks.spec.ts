import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChunkAssembler, DEFAULT_CHUNK_SIZE, splitIntoChunks } from './chunks';
import { ChunkError } from './errors';
import { seededRandomBytes } from './random';

const payload = seededRandomBytes('chunks')(2_500_000);
const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe(splitIntoChunks.name, () => {
  it('cuts 512 KiB chunks with per-chunk and total SHA-256', () => {
    const { manifest, chunks } = splitIntoChunks(payload);
    expect(manifest.chunkSize).toBe(DEFAULT_CHUNK_SIZE);
    expect(manifest.count).toBe(5);
    expect(chunks.map((c) => c.length)).toEqual([524288, 524288, 524288, 524288, 2_500_000 - 4 * 524288]);
    expect(manifest.sha256).toBe(createHash('sha256').update(payload).digest('hex'));
    expect(manifest.chunkSha256[4]).toBe(createHash('sha256').update(payload.subarray(4 * 524288)).digest('hex'));
  });

  it('handles an empty payload and rejects a bad chunk size', () => {
    const { manifest, chunks } = splitIntoChunks(new Uint8Array(0), 10);
    expect(chunks).toEqual([]);
    const a = new ChunkAssembler(manifest);
    expect(a.isComplete()).toBe(true);
    expect(a.nextMissing()).toBeNull();
    expect(a.result()).toEqual(new Uint8Array(0));
    expect(() => splitIntoChunks(payload, 0)).toThrow(ChunkError);
  });
});

describe(ChunkAssembler.name, () => {
  it('reassembles chunks arriving out of order and with repeats', () => {
    const { manifest, chunks } = splitIntoChunks(payload, 300_000);
    const a = new ChunkAssembler(manifest);
    const order = chunks.map((_, i) => i).reverse();
    for (const i of order) expect(a.accept(i, chunks[i] ?? new Uint8Array(0))).toBe(true);
    expect(a.accept(0, chunks[0] ?? new Uint8Array(0))).toBe(true);
    expect(a.isComplete()).toBe(true);
    expect(sameBytes(a.result(), payload)).toBe(true);
  });

  it('rejects corrupt, wrong-length and out-of-range chunks', () => {
    const { manifest, chunks } = splitIntoChunks(payload, 1_000_000);
    const a = new ChunkAssembler(manifest);
    const bad = (chunks[1] ?? new Uint8Array(0)).slice();
    bad[999] = (bad[999] ?? 0) ^ 1;
    expect(a.accept(1, bad)).toBe(false);
    expect(a.accept(1, chunks[0] ?? new Uint8Array(0))).toBe(false);
    expect(a.accept(2, chunks[2]?.subarray(1) ?? new Uint8Array(0))).toBe(false);
    expect(a.accept(3, chunks[0] ?? new Uint8Array(0))).toBe(false);
    expect(a.accept(-1, chunks[0] ?? new Uint8Array(0))).toBe(false);
    expect(a.receivedCount()).toBe(0);
    expect(() => a.result()).toThrow(/0 of 3/);
  });

  it('resumes an interrupted transfer from the first missing chunk', () => {
    const { manifest, chunks } = splitIntoChunks(payload, 100_000);
    const a = new ChunkAssembler(JSON.parse(JSON.stringify(manifest)) as typeof manifest);
    for (let i = 0; i < 10; i++) a.accept(i, chunks[i] ?? new Uint8Array(0));
    a.accept(12, chunks[12] ?? new Uint8Array(0));
    expect(a.nextMissing()).toBe(10);
    let sent = 0;
    for (let i = a.nextMissing(); i !== null; i = a.nextMissing()) {
      a.accept(i, chunks[i] ?? new Uint8Array(0));
      sent++;
    }
    expect(sent).toBe(chunks.length - 11);
    expect(sameBytes(a.result(), payload)).toBe(true);
  });

  it('refuses inconsistent or oversized manifests and a forged total hash', () => {
    const { manifest, chunks } = splitIntoChunks(payload, 1_000_000);
    expect(() => new ChunkAssembler({ ...manifest, count: 2 })).toThrow(ChunkError);
    expect(() => new ChunkAssembler({ ...manifest, chunkSha256: manifest.chunkSha256.slice(1) })).toThrow(/chunkSha256/);
    expect(() => new ChunkAssembler(manifest, 1000)).toThrow(/exceeds/);
    const forged = new ChunkAssembler({ ...manifest, sha256: '0'.repeat(64) });
    chunks.forEach((c, i) => forged.accept(i, c));
    expect(() => forged.result()).toThrow(/manifest hash/);
  });
});
