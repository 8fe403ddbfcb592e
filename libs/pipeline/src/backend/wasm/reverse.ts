import { type KernelConfig, type KernelFunc, Reverse, type ReverseAttrs, type TensorInfo, util } from '@tensorflow/tfjs-core';
import { copyRun, heapOf, offsetOf, type KernelArgs } from './heap';
import { ops } from './originals';

/** Reverse along one axis by block copies; several axes go to the built-in kernel. */
function reverse({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x } = inputs as { x: TensorInfo };
  const { dims } = attrs as unknown as ReverseAttrs;
  const axes = util.parseAxisParam(dims, x.shape).filter((a) => (x.shape[a] ?? 1) > 1);
  const axis = axes[0];
  if (axes.length !== 1 || axis === undefined || x.dtype === 'bool' || x.dtype === 'string') {
    return ops().reverse({ inputs, backend, attrs });
  }
  const outer = util.sizeFromShape(x.shape.slice(0, axis));
  const inner = util.sizeFromShape(x.shape.slice(axis + 1));
  const along = x.shape[axis] ?? 0;
  const out = backend.makeOutput([...x.shape], x.dtype);
  const heap = heapOf(backend, out);
  const src = offsetOf(backend, x);
  const dst = offsetOf(backend, out);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < along; i++) {
      copyRun(heap, dst + (o * along + i) * inner, src + (o * along + (along - 1 - i)) * inner, inner);
    }
  }
  return out;
}

export const reverseConfig: KernelConfig = { kernelName: Reverse, backendName: 'wasm', kernelFunc: reverse as unknown as KernelFunc };
