import { BackendError } from '../backend.errors';

/** Floats one temporary patch matrix may hold (default 64 MiB); larger problems are done in chunks. */
let CHUNK_FLOATS = 16 * 1024 * 1024;

let useConvFilterGrad = true;

/** Chooses the filter-gradient method for stride 1 (tests compare both with the cpu backend). */
export function setWasmFilterGradMethod(method: 'auto' | 'im2col'): void {
  useConvFilterGrad = method === 'auto';
}

/** Sets how many floats one temporary patch matrix may hold (tests use a small value to force chunking). */
export function setWasmKernelChunkFloats(floats: number): void {
  if (!Number.isInteger(floats) || floats < 1) throw new BackendError(`chunk size must be a positive integer, got ${floats}`);
  CHUNK_FLOATS = floats;
}

/** The chunk size {@link setWasmKernelChunkFloats} set. */
export function chunkFloats(): number {
  return CHUNK_FLOATS;
}

/** False after `setWasmFilterGradMethod('im2col')`: stride-1 filter gradients then use im2col too. */
export function filterGradByConv(): boolean {
  return useConvFilterGrad;
}
