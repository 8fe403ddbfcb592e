import { type KernelConfig, type KernelFunc, type TensorInfo, Transpose, type TransposeAttrs, util } from '@tensorflow/tfjs-core';
import { copyRun, heapOf, offsetOf, type KernelArgs } from './heap';
import { ops } from './originals';

/** Transpose by block copies when the trailing axes stay in place; otherwise the built-in kernel. */
export function transpose({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x } = inputs as { x: TensorInfo };
  const { perm } = attrs as unknown as TransposeAttrs;
  const rank = x.shape.length;
  let kept = 0;
  while (kept < rank && perm[rank - 1 - kept] === rank - 1 - kept) kept++;
  const block = util.sizeFromShape(x.shape.slice(rank - kept));
  if (kept === rank || block < 8 || x.dtype === 'bool' || x.dtype === 'string') {
    return ops().transpose({ inputs, backend, attrs });
  }
  const outer = rank - kept;
  const outShape = perm.map((p) => x.shape[p] ?? 0);
  const srcStrides = util.computeStrides(x.shape);
  const out = backend.makeOutput(outShape, x.dtype);
  const heap = heapOf(backend, out);
  const src = offsetOf(backend, x);
  let dst = offsetOf(backend, out);
  const coord = new Array<number>(outer).fill(0);
  const total = util.sizeFromShape(outShape.slice(0, outer));
  for (let i = 0; i < total; i++) {
    let from = src;
    for (let d = 0; d < outer; d++) from += (coord[d] ?? 0) * (srcStrides[perm[d] ?? 0] ?? 0);
    copyRun(heap, dst, from, block);
    dst += block;
    for (let d = outer - 1; d >= 0; d--) {
      coord[d] = (coord[d] ?? 0) + 1;
      if ((coord[d] ?? 0) < (outShape[d] ?? 0)) break;
      coord[d] = 0;
    }
  }
  return out;
}

export const transposeConfig: KernelConfig = { kernelName: Transpose, backendName: 'wasm', kernelFunc: transpose as unknown as KernelFunc };
