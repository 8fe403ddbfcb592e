import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { applyMask, pairMaskSeed, selfMaskSeed } from './secagg.masking';
import nacl from 'tweetnacl';

describe(applyMask.name, () => {
  it('adds the ChaCha20 keystream of RFC 8439 appendix A.1 test vector #1 (zero key, zero nonce)', () => {
    const v = new Uint32Array(16);
    applyMask(v, new Uint8Array(32), 1);
    const expected = Buffer.from(
      '76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586',
      'hex',
    );
    expect(Buffer.from(v.buffer).equals(expected)).toBe(true);
  });

  it('continues the keystream across its internal 1 MiB blocks and cancels when subtracted', () => {
    const seed = new Uint8Array(32).map((_, i) => i * 3);
    const n = (1 << 18) + 5;
    const v = new Uint32Array(n);
    applyMask(v, seed, 1);
    const whole = createCipheriv('chacha20', seed, Buffer.alloc(16)).update(Buffer.alloc(n * 4));
    expect(Buffer.from(v.buffer).equals(whole)).toBe(true);
    const x = new Uint32Array(n).map((_, i) => i * 7919);
    const y = new Uint32Array(x);
    applyMask(y, seed, 1);
    expect(y[n - 1]).not.toBe(x[n - 1]);
    applyMask(y, seed, -1);
    expect(Buffer.from(y.buffer).equals(Buffer.from(x.buffer))).toBe(true);
  });
});

describe(pairMaskSeed.name, () => {
  it('is the same seen from either site and differs per pair and per context', () => {
    const a = nacl.box.keyPair.fromSecretKey(new Uint8Array(32).fill(1));
    const b = nacl.box.keyPair.fromSecretKey(new Uint8Array(32).fill(2));
    const c = nacl.box.keyPair.fromSecretKey(new Uint8Array(32).fill(3));
    const ctx = new Uint8Array(32);
    expect(pairMaskSeed(a.secretKey, b.publicKey, 'a', 'b', ctx)).toEqual(pairMaskSeed(b.secretKey, a.publicKey, 'b', 'a', ctx));
    expect(pairMaskSeed(a.secretKey, b.publicKey, 'a', 'b', ctx)).not.toEqual(pairMaskSeed(a.secretKey, c.publicKey, 'a', 'c', ctx));
    expect(pairMaskSeed(a.secretKey, b.publicKey, 'a', 'b', ctx)).not.toEqual(pairMaskSeed(a.secretKey, b.publicKey, 'a', 'b', new Uint8Array(32).fill(9)));
    expect(() => pairMaskSeed(a.secretKey, new Uint8Array(32), 'a', 'z', ctx)).toThrow(/low-order/);
    expect(selfMaskSeed(new Uint8Array(32), ctx)).not.toEqual(selfMaskSeed(new Uint8Array(32).fill(1), ctx));
  });
});
