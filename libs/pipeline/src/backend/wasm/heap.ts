import type { NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** What tfjs passes a wasm kernel. */
export type KernelArgs = { inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs?: NamedAttrMap };
export type SingleKernelFunc = (args: KernelArgs) => TensorInfo;

/** The whole wasm heap as floats (indices from {@link offsetOf}). */
export function heapOf(backend: BackendWasm, anyInfo: TensorInfo): Float32Array {
  return new Float32Array(backend.typedArrayFromHeap(anyInfo).buffer);
}

/** Where a tensor's data starts in the heap, in floats. */
export function offsetOf(backend: BackendWasm, info: TensorInfo): number {
  return backend.dataIdMap.get(info.dataId).memoryOffset / 4;
}

export function dispose(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** Copies `count` floats inside the heap: copyWithin for long runs, a loop for short ones. */
export function copyRun(heap: Float32Array | Int32Array, dst: number, src: number, count: number): void {
  if (count >= 16) heap.copyWithin(dst, src, src + count);
  else for (let i = 0; i < count; i++) heap[dst + i] = heap[src + i] ?? 0;
}

/** heap[dst, dst + size) += heap[src, src + size). */
export function addInto(heap: Float32Array, dst: number, src: number, size: number): void {
  for (let i = 0; i < size; i++) heap[dst + i] = (heap[dst + i] ?? 0) + (heap[src + i] ?? 0);
}
