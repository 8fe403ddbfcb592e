import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import nacl from 'tweetnacl';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyFileError } from './errors';
import {
  IDENTITY_FILE,
  fingerprint,
  fromBase64,
  generateIdentity,
  loadIdentity,
  publicIdentity,
  saveIdentity,
  signDetached,
  toBase64,
  verifyDetached,
} from './keys';

const seed = (n: number) => new Uint8Array(32).fill(n);
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'fedct-keys-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe(generateIdentity.name, () => {
  it('is deterministic for a seed and different for different seeds', () => {
    expect(generateIdentity(seed(1))).toEqual(generateIdentity(seed(1)));
    expect(generateIdentity(seed(1)).signing.publicKey).not.toEqual(generateIdentity(seed(2)).signing.publicKey);
    expect(generateIdentity().box.publicKey).not.toEqual(generateIdentity().box.publicKey);
  });

  it('produces keys of the NaCl lengths', () => {
    const id = generateIdentity();
    expect([id.signing.publicKey.length, id.signing.secretKey.length, id.box.publicKey.length, id.box.secretKey.length]).toEqual([32, 64, 32, 32]);
  });

  it('rejects a seed that is not 32 bytes', () => {
    expect(() => generateIdentity(new Uint8Array(31))).toThrow(/32 bytes/);
  });
});

describe(signDetached.name, () => {
  it('signs so that node:crypto Ed25519 verifies it, and rejects altered messages and signatures', () => {
    const id = generateIdentity(seed(3));
    const message = new TextEncoder().encode('round 4 from site A');
    const sig = signDetached(message, id.signing.secretKey);
    const nodeKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(id.signing.publicKey).toString('base64url') }, format: 'jwk' });
    expect(nodeVerify(null, message, nodeKey, sig)).toBe(true);
    expect(verifyDetached(message, sig, id.signing.publicKey)).toBe(true);
    const altered = message.slice();
    altered[0] = (altered[0] ?? 0) ^ 1;
    expect(verifyDetached(altered, sig, id.signing.publicKey)).toBe(false);
    expect(verifyDetached(message, sig.subarray(0, 63), id.signing.publicKey)).toBe(false);
    expect(verifyDetached(message, sig, generateIdentity(seed(4)).signing.publicKey)).toBe(false);
  });

  it('gives the same bytes as tweetnacl and verifies tweetnacl signatures', () => {
    const id = generateIdentity(seed(13));
    const message = new Uint8Array(300).map((_, i) => i);
    const fromNacl = nacl.sign.detached(message, id.signing.secretKey);
    expect(signDetached(message, id.signing.secretKey)).toEqual(fromNacl);
    expect(verifyDetached(message, fromNacl, id.signing.publicKey)).toBe(true);
    expect(nacl.sign.detached.verify(message, signDetached(message, id.signing.secretKey), id.signing.publicKey)).toBe(true);
  });

  it('rejects a malleated signature whose scalar is S + L', () => {
    const id = generateIdentity(seed(5));
    const message = new Uint8Array([1, 2, 3]);
    const sig = signDetached(message, id.signing.secretKey);
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i] ?? 0);
    let t = s + L;
    const malleated = sig.slice();
    for (let i = 0; i < 32; i++) {
      malleated[32 + i] = Number(t & 0xffn);
      t >>= 8n;
    }
    expect(verifyDetached(message, malleated, id.signing.publicKey)).toBe(false);
  });
});

describe(fingerprint.name, () => {
  it('is four groups of four base32 characters, stable per key', () => {
    const a = generateIdentity(seed(6)).signing.publicKey;
    expect(fingerprint(a)).toMatch(/^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$/);
    expect(fingerprint(a)).toBe(fingerprint(a.slice()));
    expect(fingerprint(a)).not.toBe(fingerprint(generateIdentity(seed(7)).signing.publicKey));
  });

  it('matches a hand-computed value (SHA-256 prefix in base32)', () => {
    // sha256("fedct/fingerprint/v1" || 32 zero bytes), first 10 bytes, RFC 4648 base32.
    const digest = createHash('sha256').update('fedct/fingerprint/v1').update(Buffer.alloc(32)).digest();
    const bits = [...digest.subarray(0, 10)].map((b) => b.toString(2).padStart(8, '0')).join('');
    const expected = (bits.match(/.{5}/g) ?? []).map((g) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[parseInt(g, 2)]).join('');
    expect(fingerprint(new Uint8Array(32)).replace(/-/g, '')).toBe(expected);
  });
});

describe(saveIdentity.name, () => {
  it('round-trips through files with owner-only permissions', () => {
    const dir = join(tempDir(), 'keys');
    const id = generateIdentity(seed(8));
    saveIdentity(dir, id);
    expect(statSync(join(dir, IDENTITY_FILE)).mode & 0o777).toBe(0o600);
    expect(loadIdentity(dir)).toEqual(id);
  });

  it('refuses to load a key file that group or others can read', () => {
    const dir = tempDir();
    saveIdentity(dir, generateIdentity(seed(9)));
    chmodSync(join(dir, IDENTITY_FILE), 0o644);
    expect(() => loadIdentity(dir)).toThrow(KeyFileError);
    expect(() => loadIdentity(dir)).toThrow(/chmod 600/);
  });

  it('refuses a missing file and a file whose public key does not match its secret', () => {
    const dir = tempDir();
    expect(() => loadIdentity(dir)).toThrow(KeyFileError);
    saveIdentity(dir, generateIdentity(seed(10)));
    const file = join(dir, IDENTITY_FILE);
    const body = JSON.parse(readFileSync(file, 'utf8')) as { box: { publicKey: string } };
    body.box.publicKey = toBase64(generateIdentity(seed(11)).box.publicKey);
    writeFileSync(file, JSON.stringify(body), { mode: 0o600 });
    expect(() => loadIdentity(dir)).toThrow(/do not match/);
  });
});

describe(publicIdentity.name, () => {
  it('gives the public keys in base64', () => {
    const id = generateIdentity(seed(12));
    const pub = publicIdentity(id);
    expect(fromBase64(pub.signingPublicKey)).toEqual(id.signing.publicKey);
    expect(fromBase64(pub.boxPublicKey)).toEqual(id.box.publicKey);
    expect(() => fromBase64('not base64!')).toThrow(TypeError);
  });
});
