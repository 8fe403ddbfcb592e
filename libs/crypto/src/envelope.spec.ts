import { createDecipheriv, createHash, createPublicKey, diffieHellman, createPrivateKey, hkdfSync, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from './bytes';
import { splitIntoChunks } from './chunks';
import { ENVELOPE_BLOCK_BYTES, type EnvelopeHeader, ReplayGuard, createNonce, open, peekHeader, seal } from './envelope';
import { EnvelopeError } from './errors';
import { generateIdentity } from './keys';

interface Vector {
  version: 1 | 2;
  name: string;
  senderIdentitySeed: string;
  recipientIdentitySeed: string;
  senderSigningPublicKey: string;
  recipientBoxPublicKey: string;
  recipientBoxSecretKey: string;
  ephemeralSecretKey: string;
  header: EnvelopeHeader;
  /** Small vectors: the payload and sealed bytes in hex. */
  payload?: string;
  sealed?: string;
  /** Large vectors: the payload's byte pattern (see make-envelope-kat.ts) and the sealed bytes' SHA-256. */
  payloadFill?: { n: number; length: number };
  sealedLength?: number;
  sealedSha256?: string;
}
const KAT: Vector[] = ([1, 2] as const).flatMap((version) =>
  (JSON.parse(readFileSync(join(__dirname, '..', 'test-vectors', `envelope-v${version}.json`), 'utf8')) as { vectors: Omit<Vector, 'version'>[] }).vectors.map((v) => ({ ...v, version })),
);
/** The byte pattern make-envelope-kat.ts fills large payloads with. */
const pattern = (n: number, length: number) => new Uint8Array(length).map((_, i) => (n * 31 + i * 7) & 0xff);
const payloadOf = (v: Vector) => (v.payload !== undefined ? fromHex(v.payload) : pattern(v.payloadFill!.n, v.payloadFill!.length));

const seed = (n: number) => new Uint8Array(32).fill(n);
const site = generateIdentity(seed(1));
const coordinator = generateIdentity(seed(2));
const other = generateIdentity(seed(3));

function header(overrides: Partial<EnvelopeHeader> = {}): EnvelopeHeader {
  return {
    experiment: 'exp',
    round: 3,
    site: 'site-a',
    baseModelSha256: 'c'.repeat(64),
    sampleCount: 42,
    metrics: { loss: 0.5 },
    nonce: createNonce(),
    time: '2026-11-27T06:00:00.000Z',
    ...overrides,
  };
}

describe(seal.name, () => {
  it('round-trips header and payload through open', () => {
    const payload = new Uint8Array(1000).map((_, i) => i * 13);
    const h = header({ metrics: { z: 1, a: 2 } });
    const sealed = seal(h, payload, site.signing.secretKey, coordinator.box.publicKey);
    const opened = open(sealed, site.signing.publicKey, coordinator.box.secretKey);
    expect(opened?.payload).toEqual(payload);
    expect(opened?.header).toEqual(h);
    expect(peekHeader(sealed)).toEqual(h);
  });

  it('hides the payload: the same inputs seal to different bytes and the plaintext is absent', () => {
    const payload = new TextEncoder().encode('secret-weights-secret-weights');
    const a = seal(header({ nonce: 'n' }), payload, site.signing.secretKey, coordinator.box.publicKey);
    const b = seal(header({ nonce: 'n' }), payload, site.signing.secretKey, coordinator.box.publicKey);
    expect(toHex(a)).not.toBe(toHex(b));
    expect(Buffer.from(a).includes(Buffer.from(payload))).toBe(false);
  });

  it('throws on misuse: bad key lengths and invalid headers', () => {
    const p = new Uint8Array(4);
    expect(() => seal(header(), p, site.signing.secretKey.subarray(0, 32), coordinator.box.publicKey)).toThrow(EnvelopeError);
    expect(() => seal(header(), p, site.signing.secretKey, new Uint8Array(31))).toThrow(EnvelopeError);
    expect(() => seal(header({ round: -1 }), p, site.signing.secretKey, coordinator.box.publicKey)).toThrow(/round/);
    expect(() => seal(header({ baseModelSha256: 'xyz' }), p, site.signing.secretKey, coordinator.box.publicKey)).toThrow(/baseModelSha256/);
    expect(() => seal(header({ metrics: { loss: Number.NaN } }), p, site.signing.secretKey, coordinator.box.publicKey)).toThrow(/loss/);
    expect(() => seal(header(), p, site.signing.secretKey, new Uint8Array(32))).toThrow(/low-order/);
    expect(() => open(new Uint8Array(200), site.signing.publicKey, coordinator.box.secretKey.subarray(1))).toThrow(EnvelopeError);
  });
});

describe(open.name, () => {
  const small = seal(header({ metrics: {} , nonce: 'n1' }), new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), site.signing.secretKey, coordinator.box.publicKey);

  it('returns null when any single byte of a sealed envelope is flipped (every position)', () => {
    expect(open(small, site.signing.publicKey, coordinator.box.secretKey)).not.toBeNull();
    const accepted: number[] = [];
    for (let i = 0; i < small.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const tampered = small.slice();
        tampered[i] = (tampered[i] ?? 0) ^ mask;
        if (open(tampered, site.signing.publicKey, coordinator.box.secretKey) !== null) accepted.push(i);
      }
    }
    expect(accepted).toEqual([]);
  });

  it('returns null for a wrong recipient, a wrong sender key, truncation and extension', () => {
    expect(open(small, site.signing.publicKey, other.box.secretKey)).toBeNull();
    expect(open(small, other.signing.publicKey, coordinator.box.secretKey)).toBeNull();
    for (let len = 0; len < small.length; len += 7) expect(open(small.subarray(0, len), site.signing.publicKey, coordinator.box.secretKey)).toBeNull();
    expect(open(small.subarray(0, small.length - 1), site.signing.publicKey, coordinator.box.secretKey)).toBeNull();
    const longer = new Uint8Array(small.length + 1);
    longer.set(small);
    expect(open(longer, site.signing.publicKey, coordinator.box.secretKey)).toBeNull();
  });

  it('returns null when the header is swapped for another validly formed one (re-signed by another key)', () => {
    const forged = seal(header({ site: 'site-a', sampleCount: 1_000_000 }), new Uint8Array(8), other.signing.secretKey, coordinator.box.publicKey);
    expect(peekHeader(forged)?.site).toBe('site-a');
    expect(open(forged, site.signing.publicKey, coordinator.box.secretKey)).toBeNull();
  });

  it('peekHeader returns null for bytes that are not an envelope', () => {
    expect(peekHeader(new Uint8Array(10))).toBeNull();
    expect(peekHeader(small.subarray(0, small.length - 1))).toBeNull();
  });
});

describe('envelope known-answer vectors', () => {
  const cases = KAT.map((v) => [`v${v.version} ${v.name}`, v] as const);

  it('covers both format versions, and a version 2 envelope of several blocks', () => {
    expect(KAT.filter((v) => v.version === 1)).toHaveLength(3);
    expect(KAT.filter((v) => v.version === 2 && (v.sealedLength ?? 0) > 2 * ENVELOPE_BLOCK_BYTES)).toHaveLength(1);
  });

  it.each(cases)('seals and opens "%s" exactly as recorded', (_name, v) => {
    const sender = generateIdentity(fromHex(v.senderIdentitySeed));
    const recipient = generateIdentity(fromHex(v.recipientIdentitySeed));
    expect(toHex(sender.signing.publicKey)).toBe(v.senderSigningPublicKey);
    expect(toHex(recipient.box.publicKey)).toBe(v.recipientBoxPublicKey);
    const payload = payloadOf(v);
    const sealed = seal(v.header, payload, sender.signing.secretKey, recipient.box.publicKey, { ephemeralSecretKey: fromHex(v.ephemeralSecretKey), version: v.version });
    if (v.sealed !== undefined) expect(toHex(sealed)).toBe(v.sealed);
    else expect([sealed.length, createHash('sha256').update(sealed).digest('hex')]).toEqual([v.sealedLength, v.sealedSha256]);
    const opened = open(sealed, sender.signing.publicKey, recipient.box.secretKey);
    expect(opened?.header).toEqual(v.header);
    expect(Buffer.from(opened?.payload ?? new Uint8Array([1])).equals(Buffer.from(payload))).toBe(true);
  });

  it.each(cases)('"%s" decodes by the documented layout with node:crypto alone', (_name, v) => {
    const bytes =
      v.sealed !== undefined
        ? Buffer.from(v.sealed, 'hex')
        : Buffer.from(seal(v.header, payloadOf(v), generateIdentity(fromHex(v.senderIdentitySeed)).signing.secretKey, fromHex(v.recipientBoxPublicKey), { ephemeralSecretKey: fromHex(v.ephemeralSecretKey), version: v.version }));
    if (v.sealedSha256 !== undefined) expect(createHash('sha256').update(bytes).digest('hex')).toBe(v.sealedSha256);
    expect(bytes.subarray(0, 6).toString('hex')).toBe(`464345310${v.version}01`);
    const e = bytes.subarray(6, 38);
    const h = bytes.readUInt32BE(38);
    expect(JSON.parse(bytes.subarray(42, 42 + h).toString('utf8'))).toEqual(v.header);
    const p = bytes.readUInt32BE(42 + h);
    const aadEnd = 46 + h;
    const sigStart = aadEnd + p + 16;
    expect(bytes.length).toBe(sigStart + 64);
    // Signature: Ed25519 over the version's domain ‖ digest of everything before it, checked by OpenSSL.
    const signingKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(v.senderSigningPublicKey, 'hex').toString('base64url') }, format: 'jwk' });
    const sha = (b: Buffer) => createHash('sha256').update(b).digest();
    let digest: Buffer;
    if (v.version === 1) {
      digest = sha(bytes.subarray(0, sigStart));
    } else {
      // D = SHA-256("fedct/envelope/v2/blocks" ‖ u32 524288 ‖ u64 S ‖ SHA-256 of each 512 KiB block of [0, S)).
      const lengths = Buffer.alloc(12);
      lengths.writeUInt32BE(524288, 0);
      lengths.writeBigUInt64BE(BigInt(sigStart), 4);
      const blocks: Buffer[] = [];
      for (let start = 0; start < sigStart; start += 524288) blocks.push(sha(bytes.subarray(start, Math.min(start + 524288, sigStart))));
      digest = sha(Buffer.concat([Buffer.from('fedct/envelope/v2/blocks'), lengths, ...blocks]));
    }
    expect(nodeVerify(null, Buffer.concat([Buffer.from(`fedct/envelope/v${v.version}/sig`), digest]), signingKey, bytes.subarray(sigStart))).toBe(true);
    // Key agreement by OpenSSL's X25519, then HKDF and ChaCha20-Poly1305.
    const recipientSecret = Buffer.from(v.recipientBoxSecretKey, 'hex');
    const recipientPublic = Buffer.from(v.recipientBoxPublicKey, 'hex');
    const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: recipientSecret.toString('base64url'), x: recipientPublic.toString('base64url') }, format: 'jwk' });
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(e).toString('base64url') }, format: 'jwk' });
    const shared = diffieHellman({ privateKey, publicKey });
    const okm = Buffer.from(hkdfSync('sha256', shared, Buffer.concat([e, recipientPublic]), 'fedct/envelope/v1', 44));
    const decipher = createDecipheriv('chacha20-poly1305', okm.subarray(0, 32), okm.subarray(32), { authTagLength: 16 });
    decipher.setAAD(bytes.subarray(0, aadEnd), { plaintextLength: p });
    decipher.setAuthTag(bytes.subarray(aadEnd + p, sigStart));
    const plain = Buffer.concat([decipher.update(bytes.subarray(aadEnd, aadEnd + p)), decipher.final()]);
    expect(plain.equals(Buffer.from(payloadOf(v)))).toBe(true);
  });
});

describe('version 2 block digest with verified chunks', () => {
  // Two whole blocks and a third that holds the end of the signed part and the signature.
  const payload = new Uint8Array(2 * ENVELOPE_BLOCK_BYTES + 1000).map((_, i) => (i * 29) & 0xff);
  const sealed = seal(header({ nonce: 'blocks' }), payload, site.signing.secretKey, coordinator.box.publicKey);
  const { manifest } = splitIntoChunks(sealed, ENVELOPE_BLOCK_BYTES);
  // Buffer.equals: a deep toEqual over a megabyte takes seconds.
  const samePayload = (opened: { payload: Uint8Array } | null, expected: Uint8Array) => opened !== null && Buffer.from(opened.payload).equals(Buffer.from(expected));

  it('opens with the chunk hashes checked on arrival, and with any other chunk size (hashing itself)', () => {
    expect(sealed[4]).toBe(2);
    expect(manifest.count).toBe(3);
    expect(samePayload(open(sealed, site.signing.publicKey, coordinator.box.secretKey, { verifiedChunks: manifest }), payload)).toBe(true);
    const other = splitIntoChunks(sealed, 100_000).manifest;
    expect(samePayload(open(sealed, site.signing.publicKey, coordinator.box.secretKey, { verifiedChunks: other }), payload)).toBe(true);
  });

  it('fails when a supplied chunk hash does not belong to the bytes, or is malformed', () => {
    for (const index of [0, 1]) {
      const wrong = [...manifest.chunkSha256];
      wrong[index] = createHash('sha256').update('not this chunk').digest('hex');
      expect(open(sealed, site.signing.publicKey, coordinator.box.secretKey, { verifiedChunks: { chunkSize: ENVELOPE_BLOCK_BYTES, chunkSha256: wrong } })).toBeNull();
    }
    const malformed = [...manifest.chunkSha256];
    malformed[0] = 'zz';
    expect(open(sealed, site.signing.publicKey, coordinator.box.secretKey, { verifiedChunks: { chunkSize: ENVELOPE_BLOCK_BYTES, chunkSha256: malformed } })).toBeNull();
  });

  it('a byte changed in the last block fails even with the other blocks vouched for', () => {
    const tampered = sealed.slice();
    tampered[2 * ENVELOPE_BLOCK_BYTES + 10]! ^= 0x01;
    expect(open(tampered, site.signing.publicKey, coordinator.box.secretKey, { verifiedChunks: manifest })).toBeNull();
  });

  it('decrypts into a caller buffer when the payload fits, and allocates otherwise', () => {
    const into = new Uint8Array(new SharedArrayBuffer(payload.length + 100));
    const opened = open(sealed, site.signing.publicKey, coordinator.box.secretKey, { verifiedChunks: manifest, into });
    expect(opened?.payload.buffer).toBe(into.buffer);
    expect(opened?.payload.length).toBe(payload.length);
    expect(samePayload(opened, payload)).toBe(true);
    const small = new Uint8Array(payload.length - 1);
    const allocated = open(sealed, site.signing.publicKey, coordinator.box.secretKey, { into: small });
    expect(allocated?.payload.buffer).not.toBe(small.buffer);
    expect(samePayload(allocated, payload)).toBe(true);
    const tampered = sealed.slice();
    tampered[ENVELOPE_BLOCK_BYTES + 5]! ^= 0x01;
    expect(open(tampered, site.signing.publicKey, coordinator.box.secretKey, { into })).toBeNull();
  });

  it('still opens version 1 envelopes (site agents from before version 2)', () => {
    const v1 = seal(header({ nonce: 'old' }), payload, site.signing.secretKey, coordinator.box.publicKey, { version: 1 });
    expect(v1[4]).toBe(1);
    expect(samePayload(open(v1, site.signing.publicKey, coordinator.box.secretKey), payload)).toBe(true);
    expect(samePayload(open(v1, site.signing.publicKey, coordinator.box.secretKey, { verifiedChunks: splitIntoChunks(v1, ENVELOPE_BLOCK_BYTES).manifest }), payload)).toBe(true);
    const tampered = v1.slice();
    tampered[100]! ^= 0x80;
    expect(open(tampered, site.signing.publicKey, coordinator.box.secretKey)).toBeNull();
  });
});

describe(ReplayGuard.name, () => {
  it('accepts a nonce once per experiment and round, and rejects a replayed envelope', () => {
    const guard = new ReplayGuard();
    const sealed = seal(header({ nonce: 'abc' }), new Uint8Array(3), site.signing.secretKey, coordinator.box.publicKey);
    const opened = open(sealed, site.signing.publicKey, coordinator.box.secretKey);
    expect(opened).not.toBeNull();
    if (!opened) return;
    expect(guard.check(opened.header)).toBe(true);
    expect(guard.check(opened.header)).toBe(false);
    expect(guard.check({ ...opened.header, round: 4 })).toBe(true);
    expect(guard.check({ ...opened.header, experiment: 'other' })).toBe(true);
    expect(guard.check({ ...opened.header, nonce: 'abd' })).toBe(true);
  });

  it('keeps bounded memory and fails closed for rounds it has forgotten', () => {
    const guard = new ReplayGuard({ maxRounds: 2, maxNoncesPerRound: 2 });
    expect(guard.check({ experiment: 'e', round: 1, nonce: 'a' })).toBe(true);
    expect(guard.check({ experiment: 'e', round: 1, nonce: 'b' })).toBe(true);
    expect(guard.check({ experiment: 'e', round: 1, nonce: 'c' })).toBe(false); // bucket full
    expect(guard.check({ experiment: 'e', round: 2, nonce: 'a' })).toBe(true);
    expect(guard.check({ experiment: 'e', round: 3, nonce: 'a' })).toBe(true); // evicts round 1
    expect(guard.check({ experiment: 'e', round: 1, nonce: 'z' })).toBe(false); // forgotten: refused
    expect(guard.check({ experiment: 'e', round: 3, nonce: 'a' })).toBe(false);
    expect(() => new ReplayGuard({ maxRounds: 0 })).toThrow(EnvelopeError);
  });
});
