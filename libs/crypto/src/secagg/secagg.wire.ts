import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import nacl from 'tweetnacl';
import { fromBase64, sha256, toBase64, toHex } from '../bytes';
import { SecAggError } from '../errors';
import { SECAGG_DOMAIN } from './secagg.constants';

/** Bytes signed in an advertisement. */
export function advertiseSignedBytes(context: Uint8Array, site: string, encryptionPublicKey: string, maskingPublicKey: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify([SECAGG_DOMAIN.advertise, toHex(context), site, encryptionPublicKey, maskingPublicKey]));
}

/** Bytes signed in the consistency check: the sorted survivor list in this round's context. */
export function consistencySignedBytes(context: Uint8Array, survivors: readonly string[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify([SECAGG_DOMAIN.consistency, toHex(context), [...survivors].sort()]));
}

/** Hex commitment to a self-mask secret: SHA-256(label ‖ context ‖ site ‖ secret). */
export function selfMaskCommitment(context: Uint8Array, site: string, secret: Uint8Array): string {
  return toHex(sha256(SECAGG_DOMAIN.commitment, context, site, '\u0000', secret));
}

/** What one site sends one neighbour, encrypted. */
export interface SharePlaintext {
  from: string;
  to: string;
  index: number;
  maskKeyShare: string;
  selfMaskShare: string;
}

function shareKey(ownSecret: Uint8Array, peerPublic: Uint8Array, from: string, to: string, context: Uint8Array): { key: Buffer; nonce: Buffer } {
  const shared = nacl.scalarMult(ownSecret, peerPublic);
  if (shared.every((b) => b === 0)) throw new SecAggError('An encryption public key is a low-order point', 'bad_key');
  const okm = Buffer.from(hkdfSync('sha256', shared, context, `${SECAGG_DOMAIN.shareKey}\u0000${from}\u0000${to}`, 44));
  return { key: okm.subarray(0, 32), nonce: okm.subarray(32) };
}

/** ChaCha20-Poly1305 under a key from X25519(own secret, peer public), bound to sender and recipient. */
export function encryptShare(plain: SharePlaintext, ownSecret: Uint8Array, peerPublic: Uint8Array, context: Uint8Array): string {
  const { key, nonce } = shareKey(ownSecret, peerPublic, plain.from, plain.to, context);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  const body = Buffer.from(JSON.stringify(plain), 'utf8');
  cipher.setAAD(Buffer.from(`${plain.from}\u0000${plain.to}`), { plaintextLength: body.length });
  return toBase64(Buffer.concat([cipher.update(body), cipher.final(), cipher.getAuthTag()]));
}

/** Decrypts a share bundle; returns null if it is forged, altered, or not from `from` to `to`. */
export function decryptShare(ciphertext: string, from: string, to: string, ownSecret: Uint8Array, peerPublic: Uint8Array, context: Uint8Array): SharePlaintext | null {
  try {
    const bytes = fromBase64(ciphertext);
    if (bytes.length < 16) return null;
    const { key, nonce } = shareKey(ownSecret, peerPublic, from, to, context);
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    const body = bytes.subarray(0, bytes.length - 16);
    decipher.setAAD(Buffer.from(`${from}\u0000${to}`), { plaintextLength: body.length });
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    const text = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    const value = JSON.parse(text) as SharePlaintext;
    if (value.from !== from || value.to !== to || !Number.isInteger(value.index)) return null;
    if (typeof value.maskKeyShare !== 'string' || typeof value.selfMaskShare !== 'string') return null;
    return value;
  } catch {
    return null;
  }
}

/** Decodes a base64 key and checks its length; throws {@link SecAggError} (`bad_key`) otherwise. */
export function decodeKey(text: string, length: number, what: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(text);
  } catch (error) {
    throw new SecAggError(`${what} is not base64`, 'bad_key', { cause: error });
  }
  if (bytes.length !== length) throw new SecAggError(`${what} must be ${length} bytes, got ${bytes.length}`, 'bad_key');
  return bytes;
}
