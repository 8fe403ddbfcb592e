import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { bytesEqual, fromBase64, sha256, toBase64 } from './bytes';
import { CryptoError, KeyFileError } from './errors';

export { fromBase64, toBase64 } from './bytes';

/** An Ed25519 or X25519 key pair. Ed25519 secret keys are 64 bytes (seed ‖ public), X25519 ones 32. */
export interface KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

/** A site's (or the coordinator's) long-term keys: Ed25519 for signing, X25519 for receiving boxes. */
export interface Identity {
  signing: KeyPair;
  box: KeyPair;
}

/** The public half of an identity, as it travels in JSON (base64). */
export interface PublicIdentity {
  signingPublicKey: string;
  boxPublicKey: string;
}

/** Name of the secret key file written by {@link saveIdentity} (mode 0600). */
export const IDENTITY_FILE = 'identity.key';
/** Name of the public key file written beside it (mode 0644). */
export const PUBLIC_IDENTITY_FILE = 'identity.pub';

const FILE_FORMAT = 'fedct-identity-v1';

/**
 * Creates an identity. With a 32-byte `seed` the result is deterministic (tests, known-answer
 * vectors): the Ed25519 seed and the X25519 secret are SHA-256 of domain-separated seed bytes.
 * Without a seed the keys come from the operating system's secure random source.
 */
export function generateIdentity(seed?: Uint8Array): Identity {
  if (seed !== undefined && seed.length !== 32) {
    throw new CryptoError(`generateIdentity: the seed must be 32 bytes, got ${seed.length}`);
  }
  const master = seed ?? nacl.randomBytes(32);
  const signing = nacl.sign.keyPair.fromSeed(sha256('fedct/identity/sign/v1', master));
  const box = nacl.box.keyPair.fromSecretKey(sha256('fedct/identity/box/v1', master));
  return {
    signing: { publicKey: signing.publicKey, secretKey: signing.secretKey },
    box: { publicKey: box.publicKey, secretKey: box.secretKey },
  };
}

/** The public keys of `identity`, base64-encoded for JSON. */
export function publicIdentity(identity: Identity): PublicIdentity {
  return { signingPublicKey: toBase64(identity.signing.publicKey), boxPublicKey: toBase64(identity.box.publicKey) };
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * A short, human-comparable fingerprint of a signing public key: the first 80 bits of its SHA-256 in
 * RFC 4648 base32, as four groups of four (`ABCD-EFGH-IJKL-MNOP`).
 */
export function fingerprint(signingPublicKey: Uint8Array): string {
  if (signingPublicKey.length !== nacl.sign.publicKeyLength) {
    throw new CryptoError(`fingerprint: a signing public key is 32 bytes, got ${signingPublicKey.length}`);
  }
  const digest = sha256('fedct/fingerprint/v1', signingPublicKey).subarray(0, 10);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g)?.join('-') ?? out;
}

/**
 * Ed25519 detached signature (64 bytes) of `message` under a 64-byte secret key (seed ‖ public key,
 * tweetnacl's layout). Signing runs in OpenSSL (node:crypto), about 50 times faster than tweetnacl's
 * pure JavaScript; Ed25519 is deterministic, so the bytes are the same as `nacl.sign.detached`.
 */
export function signDetached(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== nacl.sign.secretKeyLength) {
    throw new CryptoError(`signDetached: a signing secret key is 64 bytes, got ${secretKey.length}`);
  }
  const key = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: b64url(secretKey.subarray(0, 32)), x: b64url(secretKey.subarray(32)) },
    format: 'jwk',
  });
  return new Uint8Array(nodeSign(null, message, key));
}

/**
 * Verifies an Ed25519 detached signature (in OpenSSL, see {@link signDetached}). Returns false for a
 * wrong signature, a signature of the wrong length or with a non-canonical scalar (S >= L), or a
 * public key that is not a valid point; throws only for a public key of the wrong length (misuse).
 */
export function verifyDetached(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  if (publicKey.length !== nacl.sign.publicKeyLength) {
    throw new CryptoError(`verifyDetached: a signing public key is 32 bytes, got ${publicKey.length}`);
  }
  if (signature.length !== nacl.sign.signatureLength || !isCanonicalScalar(signature.subarray(32))) return false;
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(publicKey) }, format: 'jwk' });
    return nodeVerify(null, message, key, signature);
  } catch {
    return false;
  }
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

// The group order L of Ed25519, little endian: a signature with S >= L is a malleated copy.
const L = [
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0x10,
];

function isCanonicalScalar(s: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const a = s[i] ?? 0;
    const b = L[i] ?? 0;
    if (a < b) return true;
    if (a > b) return false;
  }
  return false;
}

interface IdentityFile {
  format: string;
  signing: { publicKey: string; secretKey: string };
  box: { publicKey: string; secretKey: string };
}

/**
 * Writes `identity.key` (secret, mode 0600) and `identity.pub` (public keys, mode 0644) into `dir`,
 * creating `dir` with mode 0700 if needed. The secret file is written to a temporary name with mode
 * 0600 first and renamed, so it is never readable by others, even briefly.
 */
export function saveIdentity(dir: string, identity: Identity): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const body: IdentityFile = {
      format: FILE_FORMAT,
      signing: { publicKey: toBase64(identity.signing.publicKey), secretKey: toBase64(identity.signing.secretKey) },
      box: { publicKey: toBase64(identity.box.publicKey), secretKey: toBase64(identity.box.secretKey) },
    };
    const target = join(dir, IDENTITY_FILE);
    const temp = `${target}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600, flag: 'w' });
    chmodSync(temp, 0o600);
    renameSync(temp, target);
    const pub = join(dir, PUBLIC_IDENTITY_FILE);
    writeFileSync(pub, `${JSON.stringify({ format: FILE_FORMAT, ...publicIdentity(identity) }, null, 2)}\n`, { mode: 0o644 });
  } catch (error) {
    throw new KeyFileError(`Cannot write the identity to ${dir}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Reads the identity written by {@link saveIdentity}. Throws {@link KeyFileError} if the file is
 * missing, malformed, its public keys do not match its secret keys, or it is readable or writable by
 * group or others (fix with `chmod 600`).
 */
export function loadIdentity(dir: string): Identity {
  const file = join(dir, IDENTITY_FILE);
  let text: string;
  try {
    const mode = statSync(file).mode & 0o777;
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new KeyFileError(
        `Refusing to use ${file}: its mode is ${mode.toString(8).padStart(4, '0')}, others can access it; run chmod 600 ${file}`,
      );
    }
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof KeyFileError) throw error;
    throw new KeyFileError(`Cannot read the identity file ${file}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const body = JSON.parse(text) as Partial<IdentityFile>;
    if (body.format !== FILE_FORMAT || !body.signing || !body.box) throw new Error(`not a ${FILE_FORMAT} file`);
    const identity: Identity = {
      signing: { publicKey: fromBase64(body.signing.publicKey), secretKey: fromBase64(body.signing.secretKey) },
      box: { publicKey: fromBase64(body.box.publicKey), secretKey: fromBase64(body.box.secretKey) },
    };
    if (identity.signing.secretKey.length !== 64 || identity.box.secretKey.length !== 32) throw new Error('wrong key lengths');
    const signing = nacl.sign.keyPair.fromSecretKey(identity.signing.secretKey);
    const box = nacl.box.keyPair.fromSecretKey(identity.box.secretKey);
    const seedPublic = nacl.sign.keyPair.fromSeed(identity.signing.secretKey.subarray(0, 32)).publicKey;
    if (
      !bytesEqual(signing.publicKey, identity.signing.publicKey) ||
      !bytesEqual(seedPublic, identity.signing.publicKey) ||
      !bytesEqual(box.publicKey, identity.box.publicKey)
    ) {
      throw new Error('public keys do not match the secret keys');
    }
    return identity;
  } catch (error) {
    throw new KeyFileError(`The identity file ${file} is corrupt: ${(error as Error).message}`, { cause: error });
  }
}
