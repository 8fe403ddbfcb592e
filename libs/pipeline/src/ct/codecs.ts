/**
 * Pixel data decoders for the compressed transfer syntaxes. Each returns the frame's samples as
 * little-endian bytes (BitsAllocated per sample), ready to be viewed as Uint8/Int16/Uint16.
 */
import { DicomError } from './errors';

/** Transfer syntax UIDs this module knows by name. */
export const TRANSFER_SYNTAX = {
  implicitLittle: '1.2.840.10008.1.2',
  explicitLittle: '1.2.840.10008.1.2.1',
  deflated: '1.2.840.10008.1.2.1.99',
  explicitBig: '1.2.840.10008.1.2.2',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpegExtended: '1.2.840.10008.1.2.4.51',
  jpegProcess6_8: '1.2.840.10008.1.2.4.53',
  jpegProcess10_12: '1.2.840.10008.1.2.4.55',
  jpegLossless: '1.2.840.10008.1.2.4.57',
  jpegLosslessSV1: '1.2.840.10008.1.2.4.70',
  jpegLsLossless: '1.2.840.10008.1.2.4.80',
  jpegLsNearLossless: '1.2.840.10008.1.2.4.81',
  j2kLossless: '1.2.840.10008.1.2.4.90',
  j2k: '1.2.840.10008.1.2.4.91',
  rle: '1.2.840.10008.1.2.5',
} as const;

const UNCOMPRESSED = new Set<string>([
  TRANSFER_SYNTAX.implicitLittle,
  TRANSFER_SYNTAX.explicitLittle,
  TRANSFER_SYNTAX.deflated,
  TRANSFER_SYNTAX.explicitBig,
]);

const NAMES: Record<string, string> = {
  [TRANSFER_SYNTAX.jpegExtended]: 'JPEG extended 12-bit (process 2/4)',
  [TRANSFER_SYNTAX.jpegProcess6_8]: 'JPEG spectral selection (process 6/8, retired)',
  [TRANSFER_SYNTAX.jpegProcess10_12]: 'JPEG full progression 12-bit (process 10/12, retired)',
};

/** Whether the pixel data of this transfer syntax is stored natively (not encapsulated). */
export function isUncompressed(transferSyntax: string): boolean {
  return UNCOMPRESSED.has(transferSyntax);
}

/** Whether this module can decode the transfer syntax (native ones included). */
export function isSupportedTransferSyntax(transferSyntax: string): boolean {
  return (
    UNCOMPRESSED.has(transferSyntax) ||
    transferSyntax === TRANSFER_SYNTAX.rle ||
    transferSyntax === TRANSFER_SYNTAX.jpegBaseline ||
    transferSyntax === TRANSFER_SYNTAX.jpegLossless ||
    transferSyntax === TRANSFER_SYNTAX.jpegLosslessSV1 ||
    transferSyntax === TRANSFER_SYNTAX.jpegLsLossless ||
    transferSyntax === TRANSFER_SYNTAX.jpegLsNearLossless ||
    transferSyntax === TRANSFER_SYNTAX.j2kLossless ||
    transferSyntax === TRANSFER_SYNTAX.j2k
  );
}

/** Human name for an unsupported transfer syntax. */
export function describeTransferSyntax(transferSyntax: string): string {
  return NAMES[transferSyntax] ?? `transfer syntax ${transferSyntax}`;
}

/** What the decoder needs to know about the frame. */
export interface FrameFormat {
  rows: number;
  columns: number;
  bitsAllocated: number;
  samplesPerPixel: number;
}

// Libraries never print: the emscripten modules' stdout/stderr go nowhere.
const QUIET = { print: (): void => undefined, printErr: (): void => undefined };

let charls: Promise<FedctCodecModule> | undefined;
let openjpeg: Promise<FedctCodecModule> | undefined;
let libjpeg: Promise<FedctCodecModule> | undefined;

async function loadCharls(): Promise<FedctCodecModule> {
  charls ??= import('@cornerstonejs/codec-charls/decodewasmjs').then((m) => m.default(QUIET));
  return charls;
}
async function loadOpenjpeg(): Promise<FedctCodecModule> {
  openjpeg ??= import('@cornerstonejs/codec-openjpeg/decodewasmjs').then((m) => m.default(QUIET));
  return openjpeg;
}
async function loadLibjpeg(): Promise<FedctCodecModule> {
  libjpeg ??= import('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs').then((m) => m.default(QUIET));
  return libjpeg;
}

function runWasm(
  ctor: (new () => FedctWasmDecoder) | undefined,
  encoded: Uint8Array,
  format: FrameFormat,
  what: string,
): Uint8Array {
  if (!ctor) throw new DicomError(`the ${what} decoder did not load`, 'decode_failed');
  const decoder = new ctor();
  try {
    decoder.getEncodedBuffer(encoded.length).set(encoded);
    decoder.decode();
    const info = decoder.getFrameInfo();
    if (info.width !== format.columns || info.height !== format.rows) {
      throw new DicomError(
        `${what} frame is ${info.width}x${info.height} but the header says ${format.columns}x${format.rows}`,
        'decode_failed',
      );
    }
    return decoder.getDecodedBuffer().slice();
  } finally {
    decoder.delete();
  }
}

/**
 * Decodes one encapsulated frame into little-endian sample bytes.
 * Throws DicomError('unsupported_transfer_syntax') for 12-bit lossy JPEG (no maintained decoder on npm).
 */
export async function decodeCompressedFrame(
  transferSyntax: string,
  encoded: Uint8Array,
  format: FrameFormat,
): Promise<Uint8Array> {
  try {
    switch (transferSyntax) {
      case TRANSFER_SYNTAX.rle:
        return decodeRle(encoded, format);
      case TRANSFER_SYNTAX.jpegLossless:
      case TRANSFER_SYNTAX.jpegLosslessSV1: {
        const { Decoder } = await import('jpeg-lossless-decoder-js');
        const bytesPerSample = format.bitsAllocated <= 8 ? 1 : 2;
        const copy = padBeforeEoi(encoded);
        const out = new Decoder().decode(copy.buffer, 0, copy.length, bytesPerSample);
        return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      }
      case TRANSFER_SYNTAX.jpegLsLossless:
      case TRANSFER_SYNTAX.jpegLsNearLossless:
        return runWasm((await loadCharls()).JpegLSDecoder, encoded, format, 'JPEG-LS');
      case TRANSFER_SYNTAX.j2kLossless:
      case TRANSFER_SYNTAX.j2k:
        return runWasm((await loadOpenjpeg()).J2KDecoder, encoded, format, 'JPEG 2000');
      case TRANSFER_SYNTAX.jpegBaseline:
        if (format.bitsAllocated !== 8) {
          throw new DicomError('baseline JPEG with more than 8 bits per sample is not valid DICOM', 'decode_failed');
        }
        return runWasm((await loadLibjpeg()).JPEGDecoder, encoded, format, 'JPEG baseline');
      default:
        throw new DicomError(
          `${describeTransferSyntax(transferSyntax)} is not supported; export the series uncompressed or lossless (e.g. explicit VR little endian)`,
          'unsupported_transfer_syntax',
        );
    }
  } catch (error) {
    if (error instanceof DicomError) throw error;
    throw new DicomError(
      `could not decode ${describeTransferSyntax(transferSyntax)} pixel data: ${error instanceof Error ? error.message : String(error)}`,
      'decode_failed',
      { cause: error },
    );
  }
}

/**
 * A copy of a JPEG stream with four zero bytes before its final EOI marker. jpeg-lossless-decoder-js
 * 2.1 mistakes the EOI for data when the last pixel's Huffman code ends within the last byte and
 * returns a wrong last pixel; zero fill bits after the entropy-coded data avoid that and are ignored.
 */
function padBeforeEoi(encoded: Uint8Array): Uint8Array {
  let end = encoded.length;
  while (end > 1 && !(encoded[end - 2] === 0xff && encoded[end - 1] === 0xd9)) end--;
  if (end <= 1) return new Uint8Array(encoded);
  const out = new Uint8Array(encoded.length + 4);
  out.set(encoded.subarray(0, end - 2), 0);
  out.set(encoded.subarray(end - 2), end + 2);
  return out;
}

/** DICOM RLE (PS3.5 Annex G): one PackBits segment per byte plane, most significant plane first. */
export function decodeRle(encoded: Uint8Array, format: FrameFormat): Uint8Array {
  const bytesPerSample = format.bitsAllocated / 8;
  if (!Number.isInteger(bytesPerSample) || bytesPerSample < 1) {
    throw new DicomError(`RLE with ${format.bitsAllocated} bits allocated is not supported`, 'decode_failed');
  }
  const pixels = format.rows * format.columns;
  const planes = bytesPerSample * format.samplesPerPixel;
  if (encoded.length < 64) throw new DicomError('RLE frame shorter than its header', 'truncated');
  const view = new DataView(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  const segments = view.getUint32(0, true);
  if (segments !== planes) {
    throw new DicomError(`RLE frame has ${segments} segments, expected ${planes}`, 'decode_failed');
  }
  const out = new Uint8Array(pixels * planes);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : encoded.length;
    // Plane s is byte (bytesPerSample - 1 - s % bytesPerSample) of sample component floor(s / bytesPerSample).
    const component = Math.floor(s / bytesPerSample);
    const byteInSample = bytesPerSample - 1 - (s % bytesPerSample);
    const stride = planes;
    let o = component * bytesPerSample + byteInSample;
    let written = 0;
    let p = start;
    while (p < end && written < pixels) {
      const n = (encoded[p++] ?? 0) << 24 >> 24;
      if (n >= 0) {
        for (let k = 0; k <= n && written < pixels; k++) {
          out[o] = encoded[p++] ?? 0;
          o += stride;
          written++;
        }
      } else if (n !== -128) {
        const value = encoded[p++] ?? 0;
        for (let k = 0; k < 1 - n && written < pixels; k++) {
          out[o] = value;
          o += stride;
          written++;
        }
      }
    }
    if (written < pixels) throw new DicomError('RLE segment ends before the frame is complete', 'truncated');
  }
  return out;
}
