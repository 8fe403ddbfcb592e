import { describe, expect, it } from 'vitest';
import { ShamirError } from './errors';
import { seededRandomBytes } from './random';
import { combine, gfMul, split } from './shamir';

describe(gfMul.name, () => {
  it('matches the worked examples of FIPS-197 section 4.2', () => {
    expect(gfMul(0x57, 0x83)).toBe(0xc1);
    expect(gfMul(0x57, 0x13)).toBe(0xfe);
    expect(gfMul(0x57, 0x02)).toBe(0xae);
    expect(gfMul(0x01, 0xab)).toBe(0xab);
  });
});

describe(split.name, () => {
  const secret = seededRandomBytes('secret')(32);

  it('recovers the secret from any t of n shares', () => {
    const shares = split(secret, 7, 4, seededRandomBytes(1));
    for (const pick of [[0, 1, 2, 3], [6, 5, 4, 3], [0, 2, 4, 6], [1, 3, 5, 6, 0]]) {
      expect(combine(pick.map((i) => shares[i] as (typeof shares)[number]))).toEqual(secret);
    }
  });

  it('with t - 1 shares gives a value unrelated to the secret', () => {
    const shares = split(secret, 7, 4, seededRandomBytes(2));
    expect(combine(shares.slice(0, 3))).not.toEqual(secret);
    // Perfect secrecy for t = 2: for any other secret there is a coefficient giving the same share 1.
    const a = seededRandomBytes(3)(32);
    const secretB = seededRandomBytes('other secret')(32);
    const shareA = split(secret, 2, 2, () => a)[0];
    const shareB = split(secretB, 2, 2, () => a.map((byte, i) => byte ^ (secret[i] ?? 0) ^ (secretB[i] ?? 0)))[0];
    expect(shareB?.value).toEqual(shareA?.value);
  });

  it('evaluates the polynomial by hand for t = 2', () => {
    // secret 0x53, coefficient 0xca: share(x) = 0x53 xor 0xca * x
    const shares = split(new Uint8Array([0x53]), 3, 2, () => new Uint8Array([0xca]));
    expect(shares.map((s) => s.value[0])).toEqual([0x53 ^ 0xca, 0x53 ^ gfMul(0xca, 2), 0x53 ^ gfMul(0xca, 3)]);
  });

  it('throws on misuse', () => {
    expect(() => split(secret, 3, 4)).toThrow(ShamirError);
    expect(() => split(secret, 256, 2)).toThrow(ShamirError);
    expect(() => combine([])).toThrow(ShamirError);
    const shares = split(secret, 3, 2);
    expect(() => combine([shares[0] as (typeof shares)[number], shares[0] as (typeof shares)[number]])).toThrow(/twice/);
  });
});
