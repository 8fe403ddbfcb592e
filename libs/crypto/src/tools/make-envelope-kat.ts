/**
 * Writes libs/crypto/test-vectors/envelope-v<N>.json: known-answer vectors for one envelope format
 * version (`node scripts/run-ts.js libs/crypto/src/tools/make-envelope-kat.ts N`, N = 1 or 2). Run once
 * per format version; envelope.spec.ts then fails if `seal` ever produces different bytes for the same
 * inputs, and checks every vector with node:crypto alone.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256, toHex } from '../bytes';
import { type EnvelopeHeader, seal } from '../envelope';
import { generateIdentity } from '../keys';

const version = Number(process.argv[2] ?? 2) as 1 | 2;
if (version !== 1 && version !== 2) throw new Error(`usage: make-envelope-kat.ts 1|2 (got ${process.argv[2]})`);
/** The deterministic byte pattern of every seed, key and payload below (the spec rebuilds it). */
const fill = (n: number, len = 32) => new Uint8Array(len).map((_, i) => (n * 31 + i * 7) & 0xff);
/** Vectors with a payload this large record the pattern and the sealed bytes' SHA-256, not the bytes. */
const INLINE_LIMIT = 64 * 1024;
const cases: { name: string; senderSeed: Uint8Array; recipientSeed: Uint8Array; ephemeral: Uint8Array; header: EnvelopeHeader; payload: Uint8Array; payloadFill?: number }[] = [
  {
    name: 'empty payload',
    senderSeed: fill(1),
    recipientSeed: fill(2),
    ephemeral: fill(3),
    header: { experiment: 'exp-1', round: 0, site: 'site-a', baseModelSha256: '0'.repeat(64), sampleCount: 0, metrics: {}, nonce: 'AAAAAAAAAAAAAAAAAAAAAA==', time: '2026-01-01T00:00:00.000Z' },
    payload: new Uint8Array(0),
  },
  {
    name: 'small payload with metrics',
    senderSeed: fill(4),
    recipientSeed: fill(5),
    ephemeral: fill(6),
    header: {
      experiment: 'covid-classifier',
      round: 7,
      site: 'hospital-b',
      baseModelSha256: 'ab'.repeat(32),
      sampleCount: 123,
      metrics: { loss: 0.25, accuracy: 0.875, 'Ω-unicode': -1.5 },
      nonce: 'bm9uY2Utbm9uY2UtMTIzNA==',
      time: '2026-11-27T06:00:00.000Z',
    },
    payload: fill(7, 100),
  },
  {
    name: 'one kibibyte payload',
    senderSeed: fill(8),
    recipientSeed: fill(9),
    ephemeral: fill(10),
    header: { experiment: 'denoiser', round: 123456, site: 's', baseModelSha256: 'f'.repeat(64), sampleCount: 99999, metrics: { mse: 0.001 }, nonce: 'x', time: '2030-12-31T23:59:59.999Z' },
    payload: fill(11, 1024),
  },
  ...(version === 2
    ? [
        {
          // Three blocks of the version 2 block digest: two whole 512 KiB blocks and a short last one.
          name: 'payload of more than two blocks',
          senderSeed: fill(12),
          recipientSeed: fill(13),
          ephemeral: fill(14),
          header: { experiment: 'classifier', round: 2, site: 'hospital-c', baseModelSha256: '12'.repeat(32), sampleCount: 40, metrics: { loss: 0.7 }, nonce: 'bGFyZ2U=', time: '2026-11-28T02:00:00.000Z' },
          payload: fill(15, 2 * 512 * 1024 + 4321),
          payloadFill: 15,
        },
      ]
    : []),
];

const vectors = cases.map((c) => {
  const sender = generateIdentity(c.senderSeed);
  const recipient = generateIdentity(c.recipientSeed);
  const sealed = seal(c.header, c.payload, sender.signing.secretKey, recipient.box.publicKey, { ephemeralSecretKey: c.ephemeral, version });
  return {
    name: c.name,
    senderIdentitySeed: toHex(c.senderSeed),
    recipientIdentitySeed: toHex(c.recipientSeed),
    senderSigningPublicKey: toHex(sender.signing.publicKey),
    recipientBoxPublicKey: toHex(recipient.box.publicKey),
    recipientBoxSecretKey: toHex(recipient.box.secretKey),
    ephemeralSecretKey: toHex(c.ephemeral),
    header: c.header,
    ...(c.payload.length <= INLINE_LIMIT
      ? { payload: toHex(c.payload), sealed: toHex(sealed) }
      : { payloadFill: { n: c.payloadFill, length: c.payload.length }, sealedLength: sealed.length, sealedSha256: toHex(sha256(sealed)) }),
  };
});
const file = join(__dirname, '..', '..', 'test-vectors', `envelope-v${version}.json`);
writeFileSync(file, `${JSON.stringify({ format: `fedct envelope v${version} (see libs/crypto/src/envelope.ts)`, vectors }, null, 2)}\n`);
process.stdout.write(`wrote ${vectors.length} vectors to ${file}\n`);
