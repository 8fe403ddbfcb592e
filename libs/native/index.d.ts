/** The oneDNN kernels (see src/fedct_native.cc for the calling convention). */
export interface NativeAddon {
  /**
   * One convolution on tensors inside `heap` (byte offsets): op 0 forward (a src, b weights, c dst,
   * offsets[3] bias or -1), 1 backward data (a dy, b weights, c dx), 2 backward weights (a src, b dy,
   * c dW). `geometry`: rank, n, ci, co, then [d, h, w] triples of input, kernel, output, strides,
   * dilations, padding before, padding after.
   */
  conv(op: 0 | 1 | 2, heap: ArrayBuffer, offsets: Float64Array, geometry: Int32Array, activation?: number, alpha?: number): void;
  /** Max pooling, N D H W C: op 0 x (a) → y (b); op 1 dy (a), x (b) → dx (c). */
  pool3d(op: 0 | 1, heap: ArrayBuffer, offsets: Float64Array, geometry: Int32Array): void;
  /** out[j] = Σ_o x[o · inner + j] (byte offsets), accumulated in double. */
  sumLeading(heap: ArrayBuffer, x: number, out: number, outer: number, inner: number): void;
  info(): { version: string; isa: string; threads: number; cached: number };
  setThreads(threads: number): void;
}

/** The addon, or null with the reason it is not available. */
export function load(): { addon: NativeAddon; reason: null } | { addon: null; reason: string };
