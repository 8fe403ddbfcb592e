/**
 * Sealed, signed envelopes for model updates.
 *
 * One file on purpose (over 400 lines): the byte format below, `seal` and `open` must change
 * together, and a reader checking one against the others should not have to follow imports.
 *
 * Byte format, versions 1 and 2 (all integers big-endian):
 *
 * | offset        | bytes  | field                                                               |
 * |---------------|--------|---------------------------------------------------------------------|
 * | 0             | 4      | magic `FCE1` (0x46 0x43 0x45 0x31)                                  |
 * | 4             | 1      | format version: 2 (written by {@link seal}), or 1 (still opened)     |
 * | 5             | 1      | suite = 1: X25519 + HKDF-SHA256 + ChaCha20-Poly1305 + Ed25519        |
 * | 6             | 32     | E: the sender's ephemeral X25519 public key                         |
 * | 38            | 4      | H: header length                                                    |
 * | 42            | H      | header: UTF-8 JSON, keys in {@link EnvelopeHeader} order, metrics sorted |
 * | 42+H          | 4      | P: payload (plaintext) length                                       |
 * | 46+H          | P+16   | ChaCha20-Poly1305 ciphertext of the payload, then its 16-byte tag   |
 * | 62+H+P        | 64     | Ed25519 signature by the sender's signing key                       |
 *
 * Key schedule: `shared = X25519(e, R)` for the ephemeral secret `e` and the recipient's box public
 * key `R`; `okm = HKDF-SHA256(ikm = shared, salt = E ‖ R, info = "fedct/envelope/v1", 44 bytes)`
 * (the same info string in both versions); the AEAD key is `okm[0..32)` and its nonce `okm[32..44)`
 * (a fresh ephemeral key per envelope makes the pair unique). The AEAD's associated data is bytes
 * `[0, 46+H)`, so the header (and the version byte) is bound to the payload.
 *
 * The signature covers everything before it, `S = 62+H+P` bytes, so a change to any byte fails
 * verification; its scalar must be canonical (S < L), so the signature itself cannot be altered either.
 * - Version 1 signs `"fedct/envelope/v1/sig" ‖ SHA-256(bytes [0, S))`.
 * - Version 2 signs `"fedct/envelope/v2/sig" ‖ D` with the block digest
 *   `D = SHA-256("fedct/envelope/v2/blocks" ‖ u32 B ‖ u64 S ‖ SHA-256(block 0) ‖ … ‖ SHA-256(block n−1))`,
 *   where `B` = {@link ENVELOPE_BLOCK_BYTES} (512 KiB) and block `i` is bytes `[iB, min((i+1)B, S))`.
 *   The blocks are the transfer chunks of the default chunk size, so a receiver that has checked each
 *   chunk's SHA-256 on arrival passes those hashes to {@link open} ({@link OpenOptions.verifiedChunks})
 *   and verifies the signature without hashing the envelope a second time.
 *
 * Known-answer vectors: `libs/crypto/test-vectors/envelope-v1.json` and `envelope-v2.json`.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync } from 'node:crypto';
import nacl from 'tweetnacl';
import { concatBytes, toBase64 } from './bytes';
import { EnvelopeError } from './errors';
import { signDetached, verifyDetached } from './keys';

/** What a site says about an update; signed with the payload, readable without the recipient's key. */
export interface EnvelopeHeader {
  experiment: string;
  round: number;
  site: string;
  /** Lower-case hex SHA-256 of the encoded base model blob the update was trained from. */
  baseModelSha256: string;
  sampleCount: number;
  metrics: Record<string, number>;
  /** Unique per envelope (see {@link createNonce}); the coordinator's {@link ReplayGuard} remembers it. */
  nonce: string;
  /** ISO 8601 time of sealing. */
  time: string;
}

/** Options for {@link seal}; only known-answer tests set `ephemeralSecretKey`. */
export interface SealOptions {
  /** 32-byte X25519 secret to use instead of a fresh random one (tests only: reuse breaks secrecy). */
  ephemeralSecretKey?: Uint8Array;
  /** Format version to write: 2 (default) or 1 (what site agents before version 2 wrote). */
  version?: 1 | 2;
}

/** Options for {@link open}. */
export interface OpenOptions {
  /**
   * The chunk manifest the envelope arrived by, when the caller has already checked every chunk of
   * these very bytes against `chunkSha256`. With `chunkSize` = {@link ENVELOPE_BLOCK_BYTES}, a version 2
   * envelope's signature is then verified from those hashes: only the block that holds the end of the
   * signed part is hashed again. Hashes that do not belong to the bytes make verification fail (never pass).
   */
  verifiedChunks?: { chunkSize: number; chunkSha256: readonly string[] };
  /**
   * Decrypt into this buffer (e.g. a reused or shared one) when the payload fits; the returned payload
   * is then a view of its start. Otherwise a new buffer is allocated as usual.
   */
  into?: Uint8Array;
}

/** Piece size for decrypting into a caller's buffer: small enough to come from malloc's arenas. */
const DECRYPT_PIECE_BYTES = 64 * 1024;

/** The 4 magic bytes that start every envelope. */
export const ENVELOPE_MAGIC = new Uint8Array([0x46, 0x43, 0x45, 0x31]);
/** Envelope format version written by {@link seal} (version 1 is still opened). */
export const ENVELOPE_VERSION = 2;
/** Version 2 signs the SHA-256 of every block of this many bytes (the default transfer chunk size). */
export const ENVELOPE_BLOCK_BYTES = 512 * 1024;
/** Cipher suite 1: X25519 + HKDF-SHA256 + ChaCha20-Poly1305 + Ed25519 over SHA-256. */
export const ENVELOPE_SUITE = 1;
/** Largest header {@link seal} writes and {@link open} accepts, in bytes. */
export const MAX_HEADER_BYTES = 64 * 1024;

const KDF_INFO = 'fedct/envelope/v1';
const SIG_DOMAIN: Record<number, string> = { 1: 'fedct/envelope/v1/sig', 2: 'fedct/envelope/v2/sig' };
const BLOCKS_DOMAIN = 'fedct/envelope/v2/blocks';
const FIXED_PREFIX = 42; // magic + version + suite + E + header length
const TAG_BYTES = 16;
const SIG_BYTES = 64;
const HEADER_KEYS = ['experiment', 'round', 'site', 'baseModelSha256', 'sampleCount', 'metrics', 'nonce', 'time'] as const;

/** A fresh random nonce for {@link EnvelopeHeader.nonce}: 16 random bytes in base64. */
export function createNonce(): string {
  return toBase64(nacl.randomBytes(16));
}

/**
 * Encrypts `payload` to `recipientBoxPublicKey` and signs it together with `header`.
 * Throws {@link EnvelopeError} on misuse: keys of the wrong length, or a header that is not valid
 * (see {@link validateHeader}).
 */
export function seal(
  header: EnvelopeHeader,
  payload: Uint8Array,
  senderSigningSecretKey: Uint8Array,
  recipientBoxPublicKey: Uint8Array,
  options: SealOptions = {},
): Uint8Array {
  if (senderSigningSecretKey.length !== nacl.sign.secretKeyLength) {
    throw new EnvelopeError(`seal: the sender's signing secret key must be 64 bytes, got ${senderSigningSecretKey.length}`);
  }
  if (recipientBoxPublicKey.length !== nacl.box.publicKeyLength) {
    throw new EnvelopeError(`seal: the recipient's box public key must be 32 bytes, got ${recipientBoxPublicKey.length}`);
  }
  const problem = validateHeader(header);
  if (problem) throw new EnvelopeError(`seal: invalid header: ${problem}`);
  if (payload.length > 0xffffffff) throw new EnvelopeError('seal: the payload is larger than 4 GiB');
  const headerBytes = encodeHeader(header);
  if (headerBytes.length > MAX_HEADER_BYTES) throw new EnvelopeError(`seal: the header is larger than ${MAX_HEADER_BYTES} bytes`);

  const version = options.version ?? ENVELOPE_VERSION;
  if (version !== 1 && version !== 2) throw new EnvelopeError(`seal: unknown format version ${String(version)}`);
  const ephemeralSecret = options.ephemeralSecretKey ?? nacl.randomBytes(32);
  if (ephemeralSecret.length !== 32) throw new EnvelopeError('seal: ephemeralSecretKey must be 32 bytes');
  const ephemeralPublic = nacl.scalarMult.base(ephemeralSecret);
  const shared = nacl.scalarMult(ephemeralSecret, recipientBoxPublicKey);
  if (isAllZero(shared)) throw new EnvelopeError('seal: the recipient box public key is a low-order point');

  const h = headerBytes.length;
  const p = payload.length;
  const out = new Uint8Array(FIXED_PREFIX + h + 4 + p + TAG_BYTES + SIG_BYTES);
  const view = new DataView(out.buffer);
  out.set(ENVELOPE_MAGIC, 0);
  out[4] = version;
  out[5] = ENVELOPE_SUITE;
  out.set(ephemeralPublic, 6);
  view.setUint32(38, h);
  out.set(headerBytes, FIXED_PREFIX);
  view.setUint32(FIXED_PREFIX + h, p);
  const aadEnd = FIXED_PREFIX + h + 4;

  const { key, nonce } = deriveKey(shared, ephemeralPublic, recipientBoxPublicKey);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(out.subarray(0, aadEnd), { plaintextLength: p });
  const body = cipher.update(payload);
  cipher.final();
  out.set(body, aadEnd);
  out.set(cipher.getAuthTag(), aadEnd + p);
  const sigStart = aadEnd + p + TAG_BYTES;
  out.set(signDetached(signedMessage(version, out.subarray(0, sigStart))!, senderSigningSecretKey), sigStart); // no verifiedChunks: never null
  return out;
}

/**
 * Verifies and decrypts an envelope. Returns `null` when the envelope was altered in any way, is
 * truncated or malformed, was not signed by `senderSigningPublicKey`, was not sealed to the owner of
 * `recipientBoxSecretKey`, or carries an invalid header. Throws {@link EnvelopeError} only for keys of
 * the wrong length (misuse). Replays are not detected here: use {@link ReplayGuard}.
 */
export function open(
  sealed: Uint8Array,
  senderSigningPublicKey: Uint8Array,
  recipientBoxSecretKey: Uint8Array,
  options: OpenOptions = {},
): { header: EnvelopeHeader; payload: Uint8Array } | null {
  if (senderSigningPublicKey.length !== nacl.sign.publicKeyLength) {
    throw new EnvelopeError(`open: the sender's signing public key must be 32 bytes, got ${senderSigningPublicKey.length}`);
  }
  if (recipientBoxSecretKey.length !== nacl.box.secretKeyLength) {
    throw new EnvelopeError(`open: the recipient's box secret key must be 32 bytes, got ${recipientBoxSecretKey.length}`);
  }
  const layout = parseLayout(sealed);
  if (!layout) return null;
  const signature = sealed.subarray(layout.sigStart);
  const message = signedMessage(layout.version, sealed.subarray(0, layout.sigStart), options.verifiedChunks);
  if (!message || !verifyDetached(message, signature, senderSigningPublicKey)) return null;

  const ephemeralPublic = sealed.subarray(6, 38);
  const shared = nacl.scalarMult(recipientBoxSecretKey, ephemeralPublic);
  if (isAllZero(shared)) return null;
  const recipientPublic = nacl.scalarMult.base(recipientBoxSecretKey);
  const { key, nonce } = deriveKey(shared, ephemeralPublic, recipientPublic);
  let payload: Uint8Array;
  try {
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(sealed.subarray(0, layout.aadEnd), { plaintextLength: layout.payloadLength });
    decipher.setAuthTag(sealed.subarray(layout.aadEnd + layout.payloadLength, layout.sigStart));
    const ciphertext = sealed.subarray(layout.aadEnd, layout.aadEnd + layout.payloadLength);
    const into = options.into;
    if (into && into.length >= ciphertext.length) {
      // A stream cipher: each piece decrypts to as many bytes, copied into place (no payload-sized
      // allocation). Nothing in `into` may be trusted unless final() below checks the tag.
      for (let offset = 0; offset < ciphertext.length; offset += DECRYPT_PIECE_BYTES) {
        into.set(decipher.update(ciphertext.subarray(offset, offset + DECRYPT_PIECE_BYTES)), offset);
      }
      payload = into.subarray(0, ciphertext.length);
    } else {
      const plain = decipher.update(ciphertext);
      payload = new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
    }
    decipher.final();
  } catch {
    return null;
  }
  const header = decodeHeader(sealed.subarray(FIXED_PREFIX, FIXED_PREFIX + layout.headerLength));
  if (!header) return null;
  return { header, payload };
}

/**
 * Reads the header of an envelope WITHOUT authenticating it, only to find out which site's key to
 * verify it with. Returns `null` if the bytes are not a well-formed envelope. Never trust its fields
 * until {@link open} succeeds.
 */
export function peekHeader(sealed: Uint8Array): EnvelopeHeader | null {
  const layout = parseLayout(sealed);
  if (!layout) return null;
  return decodeHeader(sealed.subarray(FIXED_PREFIX, FIXED_PREFIX + layout.headerLength));
}

/** Returns why `header` is not a valid {@link EnvelopeHeader}, or `null` if it is. */
export function validateHeader(header: unknown): string | null {
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return 'not an object';
  const h = header as Record<string, unknown>;
  const keys = Object.keys(h);
  const extra = keys.filter((k) => !(HEADER_KEYS as readonly string[]).includes(k));
  if (extra.length > 0) return `unknown field ${extra[0]}`;
  for (const k of HEADER_KEYS) if (!(k in h)) return `missing field ${k}`;
  if (!isShortString(h.experiment)) return 'experiment must be a string of 1-256 characters';
  if (!isCount(h.round)) return 'round must be a non-negative integer';
  if (!isShortString(h.site)) return 'site must be a string of 1-256 characters';
  if (typeof h.baseModelSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(h.baseModelSha256)) {
    return 'baseModelSha256 must be 64 lower-case hex digits';
  }
  if (!isCount(h.sampleCount)) return 'sampleCount must be a non-negative integer';
  const metrics = h.metrics;
  if (typeof metrics !== 'object' || metrics === null || Array.isArray(metrics)) return 'metrics must be an object';
  for (const [k, v] of Object.entries(metrics)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) return `metric ${k} must be a finite number`;
  }
  if (!isShortString(h.nonce)) return 'nonce must be a string of 1-256 characters';
  if (typeof h.time !== 'string' || Number.isNaN(Date.parse(h.time))) return 'time must be an ISO 8601 date';
  return null;
}

/** The canonical header bytes: keys in declaration order, metrics sorted by name. */
function encodeHeader(header: EnvelopeHeader): Uint8Array {
  const metrics: Record<string, number> = {};
  for (const k of Object.keys(header.metrics).sort()) metrics[k] = header.metrics[k] ?? 0;
  const ordered = {
    experiment: header.experiment,
    round: header.round,
    site: header.site,
    baseModelSha256: header.baseModelSha256,
    sampleCount: header.sampleCount,
    metrics,
    nonce: header.nonce,
    time: header.time,
  };
  return new Uint8Array(Buffer.from(JSON.stringify(ordered), 'utf8'));
}

function decodeHeader(bytes: Uint8Array): EnvelopeHeader | null {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    const value = JSON.parse(text) as unknown;
    if (validateHeader(value) !== null) return null;
    return value as EnvelopeHeader;
  } catch {
    return null;
  }
}

interface Layout {
  version: number;
  headerLength: number;
  payloadLength: number;
  aadEnd: number;
  sigStart: number;
}

function parseLayout(sealed: Uint8Array): Layout | null {
  if (sealed.length < FIXED_PREFIX + 4 + TAG_BYTES + SIG_BYTES) return null;
  for (let i = 0; i < 4; i++) if (sealed[i] !== ENVELOPE_MAGIC[i]) return null;
  const version = sealed[4]!;
  if ((version !== 1 && version !== 2) || sealed[5] !== ENVELOPE_SUITE) return null;
  const view = new DataView(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const headerLength = view.getUint32(38);
  if (headerLength > MAX_HEADER_BYTES || FIXED_PREFIX + headerLength + 4 > sealed.length) return null;
  const payloadLength = view.getUint32(FIXED_PREFIX + headerLength);
  const aadEnd = FIXED_PREFIX + headerLength + 4;
  const sigStart = aadEnd + payloadLength + TAG_BYTES;
  if (sigStart + SIG_BYTES !== sealed.length) return null;
  return { version, headerLength, payloadLength, aadEnd, sigStart };
}

function deriveKey(shared: Uint8Array, ephemeralPublic: Uint8Array, recipientPublic: Uint8Array): { key: Buffer; nonce: Buffer } {
  const okm = Buffer.from(hkdfSync('sha256', shared, concatBytes(ephemeralPublic, recipientPublic), KDF_INFO, 44));
  return { key: okm.subarray(0, 32), nonce: okm.subarray(32, 44) };
}

/**
 * The bytes the Ed25519 signature is over, for `version`; `null` when `verifiedChunks` is malformed
 * for these bytes (then nothing verifies).
 */
function signedMessage(version: number, signedPart: Uint8Array, verifiedChunks?: OpenOptions['verifiedChunks']): Uint8Array | null {
  const domain = new Uint8Array(Buffer.from(SIG_DOMAIN[version]!, 'utf8'));
  if (version === 1) return concatBytes(domain, createHash('sha256').update(signedPart).digest());
  const digest = blockDigest(signedPart, verifiedChunks);
  return digest ? concatBytes(domain, digest) : null;
}

/** Version 2's block digest `D` of the signed part (see the format at the top of this file). */
function blockDigest(signedPart: Uint8Array, verifiedChunks?: OpenOptions['verifiedChunks']): Uint8Array | null {
  const length = signedPart.length;
  const blocks = Math.ceil(length / ENVELOPE_BLOCK_BYTES);
  const known = verifiedChunks?.chunkSize === ENVELOPE_BLOCK_BYTES ? verifiedChunks.chunkSha256 : null;
  const prefix = Buffer.alloc(Buffer.byteLength(BLOCKS_DOMAIN) + 12);
  prefix.write(BLOCKS_DOMAIN, 0, 'utf8');
  prefix.writeUInt32BE(ENVELOPE_BLOCK_BYTES, prefix.length - 12);
  prefix.writeBigUInt64BE(BigInt(length), prefix.length - 8);
  const outer = createHash('sha256').update(prefix);
  for (let i = 0; i < blocks; i++) {
    const start = i * ENVELOPE_BLOCK_BYTES;
    const end = Math.min(start + ENVELOPE_BLOCK_BYTES, length);
    // A transfer chunk equals block i only when the block is whole (the last one also holds the signature).
    const hex = known && end - start === ENVELOPE_BLOCK_BYTES ? known[i] : undefined;
    if (hex !== undefined) {
      if (!/^[0-9a-f]{64}$/.test(hex)) return null;
      outer.update(Buffer.from(hex, 'hex'));
    } else {
      outer.update(createHash('sha256').update(signedPart.subarray(start, end)).digest());
    }
  }
  return new Uint8Array(outer.digest());
}

function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const b of bytes) acc |= b;
  return acc === 0;
}

function isShortString(v: unknown): v is string {
  return typeof v === 'string' && v.length >= 1 && v.length <= 256;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Options for {@link ReplayGuard}. */
export interface ReplayGuardOptions {
  /** How many (experiment, round) buckets of nonces to keep; the oldest is dropped first. Default 64. */
  maxRounds?: number;
  /** Most nonces remembered per bucket; further envelopes for that round are refused. Default 100 000. */
  maxNoncesPerRound?: number;
  /** Most experiments whose "oldest remembered round" watermark is kept. Default 10 000. */
  maxExperiments?: number;
}

/**
 * Remembers envelope nonces per (experiment, round) with bounded memory. {@link ReplayGuard.check}
 * returns true the first time it sees a nonce and false for a repeat. It fails closed: once a round's
 * bucket is dropped to make room, envelopes for that round or any earlier round of the same
 * experiment are refused, and a full bucket refuses new nonces.
 */
export class ReplayGuard {
  private readonly buckets = new Map<string, Set<string>>();
  private readonly watermarks = new Map<string, number>();
  private readonly maxRounds: number;
  private readonly maxNoncesPerRound: number;
  private readonly maxExperiments: number;

  constructor(options: ReplayGuardOptions = {}) {
    this.maxRounds = options.maxRounds ?? 64;
    this.maxNoncesPerRound = options.maxNoncesPerRound ?? 100_000;
    this.maxExperiments = options.maxExperiments ?? 10_000;
    for (const [name, v] of Object.entries({ maxRounds: this.maxRounds, maxNoncesPerRound: this.maxNoncesPerRound, maxExperiments: this.maxExperiments })) {
      if (!Number.isSafeInteger(v) || v < 1) throw new EnvelopeError(`ReplayGuard: ${name} must be a positive integer, got ${v}`);
    }
  }

  /** True if `header.nonce` is new for its experiment and round (and records it); false for a replay. */
  check(header: Pick<EnvelopeHeader, 'experiment' | 'round' | 'nonce'>): boolean {
    const watermark = this.watermarks.get(header.experiment);
    if (watermark !== undefined && header.round <= watermark) return false;
    const key = `${header.experiment}\u0000${header.round}`;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxRounds) this.evictOldest();
      bucket = new Set();
      this.buckets.set(key, bucket);
    }
    if (bucket.has(header.nonce) || bucket.size >= this.maxNoncesPerRound) return false;
    bucket.add(header.nonce);
    return true;
  }

  private evictOldest(): void {
    const oldest = this.buckets.keys().next();
    if (oldest.done) return;
    this.buckets.delete(oldest.value);
    const split = oldest.value.lastIndexOf('\u0000');
    const experiment = oldest.value.slice(0, split);
    const round = Number(oldest.value.slice(split + 1));
    const previous = this.watermarks.get(experiment);
    this.watermarks.delete(experiment);
    if (this.watermarks.size >= this.maxExperiments) {
      const first = this.watermarks.keys().next();
      if (!first.done) this.watermarks.delete(first.value);
    }
    this.watermarks.set(experiment, Math.max(previous ?? -1, round));
  }
}
