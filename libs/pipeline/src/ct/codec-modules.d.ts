// Types for the emscripten decoder builds and the lossless JPEG decoder, which ship none.

interface FedctCodecFrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned?: boolean;
}

interface FedctWasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): FedctCodecFrameInfo;
  readHeader?(): void;
  delete(): void;
}

interface FedctCodecModule {
  JpegLSDecoder?: new () => FedctWasmDecoder;
  J2KDecoder?: new () => FedctWasmDecoder;
  JPEGDecoder?: new () => FedctWasmDecoder;
}

declare module '@cornerstonejs/codec-charls/decodewasmjs' {
  const factory: (options?: Record<string, unknown>) => Promise<FedctCodecModule>;
  export default factory;
}
declare module '@cornerstonejs/codec-openjpeg/decodewasmjs' {
  const factory: (options?: Record<string, unknown>) => Promise<FedctCodecModule>;
  export default factory;
}
declare module '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs' {
  const factory: (options?: Record<string, unknown>) => Promise<FedctCodecModule>;
  export default factory;
}
declare module 'jpeg-lossless-decoder-js' {
  export class Decoder {
    decode(buffer: ArrayBufferLike, offset: number, length: number, numBytes?: number): Uint8Array | Uint16Array;
  }
}
