import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createNonce, ENVELOPE_BLOCK_BYTES, generateIdentity, seal, splitIntoChunks, toBase64 } from '@fedct/crypto';
import { encodeModelBlob } from '@fedct/protocol';
import { resolveCoordinatorConfig } from '../core/coordinator.config';
import { VerifierPool } from './verifier.pool';

const dir = mkdtempSync(join(tmpdir(), 'fedct-verify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const site = generateIdentity(new Uint8Array(32).fill(1));
const coordinator = generateIdentity(new Uint8Array(32).fill(2));
const manifest = { model: 'toy', config: {}, tensors: [{ name: 'w', shape: [1000] }] };
const base = new Float32Array(new SharedArrayBuffer(4000));

function sealedFile(name: string, weights: Float32Array, flip = false): string {
  const header = { experiment: 'e', round: 1, site: 'site-a', baseModelSha256: 'a'.repeat(64), sampleCount: 3, metrics: {}, nonce: createNonce(), time: new Date().toISOString() };
  const sealed = seal(header, encodeModelBlob({ manifest, weights }), site.signing.secretKey, coordinator.box.publicKey);
  if (flip) sealed[sealed.length - 100]! ^= 1;
  const file = join(dir, name);
  writeFileSync(file, sealed);
  return file;
}

function job(file: string) {
  return { file, siteId: 'site-a', signingPublicKey: toBase64(site.signing.publicKey), boxSecretKey: coordinator.box.secretKey, secure: false, tensors: manifest.tensors, base, normBound: 100 };
}

describe(VerifierPool.name, () => {
  it('opens and checks updates on worker threads exactly as inline', async () => {
    const pool = new VerifierPool(resolveCoordinatorConfig({ adminToken: 'x'.repeat(20), verifyWorkers: 2 }));
    const inline = new VerifierPool(resolveCoordinatorConfig({ adminToken: 'x'.repeat(20), verifyWorkers: 0 }));
    try {
      const weights = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i));
      const good = sealedFile('good', weights);
      const [leaseA, leaseB] = await Promise.all([pool.run(job(good)), inline.run(job(good))]);
      const a = leaseA.outcome;
      const b = leaseB.outcome;
      expect(a.kind).toBe('opened');
      if (a.kind !== 'opened' || b.kind !== 'opened') return;
      expect(a.verdict).toBeNull();
      expect(Array.from(a.weights!)).toEqual(Array.from(weights));
      expect(a.header).toEqual(b.header);
      const nan = weights.slice();
      nan[7] = Number.NaN;
      const results = (await Promise.all([pool.run(job(sealedFile('nan', nan))), pool.run(job(sealedFile('tampered', weights, true)))])).map((lease) => lease.outcome);
      expect(results[0]).toMatchObject({ kind: 'opened', verdict: { code: 'rejected_non_finite' } });
      expect(results[1]).toMatchObject({ kind: 'rejected', code: 'rejected_envelope' });
      expect(pool.size).toBe(2);
      expect(inline.size).toBe(0);
    } finally {
      await pool.onModuleDestroy();
    }
  });

  it('verifies a version 2 envelope from the chunk hashes checked on arrival, and refuses hashes that do not belong to it', async () => {
    const pool = new VerifierPool(resolveCoordinatorConfig({ adminToken: 'x'.repeat(20), verifyWorkers: 1 }));
    try {
      // 300 000 weights: an envelope of three 512 KiB blocks.
      const big = { model: 'toy', config: {}, tensors: [{ name: 'w', shape: [300_000] }] };
      const weights = Float32Array.from({ length: 300_000 }, (_, i) => Math.cos(i) / 100);
      const header = { experiment: 'e', round: 1, site: 'site-a', baseModelSha256: 'a'.repeat(64), sampleCount: 3, metrics: {}, nonce: createNonce(), time: new Date().toISOString() };
      const file = join(dir, 'big');
      writeFileSync(file, seal(header, encodeModelBlob({ manifest: big, weights }), site.signing.secretKey, coordinator.box.publicKey));
      const { manifest: chunks } = splitIntoChunks(new Uint8Array(readFileSync(file)), ENVELOPE_BLOCK_BYTES);
      expect(chunks.count).toBe(3);
      const bigJob = { ...job(file), tensors: big.tensors, base: null, normBound: null };
      const good = (await pool.run({ ...bigJob, verifiedChunks: { chunkSize: chunks.chunkSize, chunkSha256: chunks.chunkSha256 } })).outcome;
      expect(good).toMatchObject({ kind: 'opened', verdict: null });
      if (good.kind === 'opened') expect(good.weights![299_999]).toBe(weights[299_999]);
      const lying = [...chunks.chunkSha256];
      lying[1] = lying[0]!;
      expect((await pool.run({ ...bigJob, verifiedChunks: { chunkSize: chunks.chunkSize, chunkSha256: lying } })).outcome).toMatchObject({ kind: 'rejected', code: 'rejected_envelope' });
    } finally {
      await pool.onModuleDestroy();
    }
  });

  it.each([1, 0])('decrypts into shared result buffers that are reused after release (%i workers)', async (workers) => {
    const pool = new VerifierPool(resolveCoordinatorConfig({ adminToken: 'x'.repeat(20), verifyWorkers: workers }));
    try {
      const resultBytes = 4000 + 64 * 1024;
      const updates = [0, 1, 2].map((k) => Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i + k) / 10));
      const leases = await Promise.all(updates.map((w, k) => pool.run(job(sealedFile(`slot-${workers}-${k}`, w)), resultBytes)));
      // All three held at once: two shared buffers, the third decrypted into a buffer of its own.
      expect(pool.buffers).toBe(2);
      const shared = leases.filter((l) => l.outcome.kind === 'opened' && l.outcome.weights!.buffer instanceof SharedArrayBuffer);
      expect(shared).toHaveLength(2);
      leases.forEach((lease, k) => {
        expect(lease.outcome).toMatchObject({ kind: 'opened', verdict: null });
        if (lease.outcome.kind === 'opened') expect(Array.from(lease.outcome.weights!)).toEqual(Array.from(updates[k]!));
      });
      leases.forEach((lease) => lease.release());
      leases[0]!.release(); // a second release changes nothing
      const again = await pool.run(job(sealedFile(`slot-${workers}-again`, updates[2]!)), resultBytes);
      // Reused, not a third buffer (from a worker each reply wraps the same memory in a new object).
      expect(again.outcome.kind === 'opened' && again.outcome.weights!.buffer instanceof SharedArrayBuffer).toBe(true);
      if (again.outcome.kind === 'opened') expect(Array.from(again.outcome.weights!)).toEqual(Array.from(updates[2]!));
      expect(pool.buffers).toBe(2);
      again.release();
      // A payload larger than the buffer asked for is decrypted into a new buffer, not refused.
      const tooSmall = await pool.run(job(sealedFile(`slot-${workers}-small`, updates[0]!)), 100);
      expect(tooSmall.outcome).toMatchObject({ kind: 'opened', verdict: null });
      tooSmall.release();
    } finally {
      await pool.onModuleDestroy();
    }
  });
});
