import { backend_util, type KernelConfig, type KernelFunc, SplitV, type SplitVAttrs, type TensorInfo, util } from '@tensorflow/tfjs-core';
import { BackendError } from '../backend.errors';
import { copyRun, heapOf, offsetOf, type KernelArgs } from './heap';

/** SplitV as block copies (the built-in one runs a strided slice per output and is very slow). */
function splitV({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
  const { x } = inputs as { x: TensorInfo };
  const { numOrSizeSplits, axis } = attrs as unknown as SplitVAttrs;
  const $axis = util.parseAxisParam(axis, x.shape)[0] ?? 0;
  const sizes = backend_util.prepareSplitSize(x, numOrSizeSplits, $axis);
  const outer = util.sizeFromShape(x.shape.slice(0, $axis));
  const inner = util.sizeFromShape(x.shape.slice($axis + 1));
  const along = x.shape[$axis] ?? 0;
  const outputs = sizes.map((size) => {
    const shape = [...x.shape];
    shape[$axis] = size;
    return backend.makeOutput(shape, x.dtype);
  });
  const bytes = x.dtype === 'float32' || x.dtype === 'int32' ? 4 : 1;
  if (bytes !== 4) throw new BackendError(`SplitV on wasm supports 32-bit data, got ${x.dtype}`);
  let begin = 0;
  outputs.forEach((out, j) => {
    const size = sizes[j] ?? 0;
    const heap = heapOf(backend, out);
    const src = offsetOf(backend, x);
    const dst = offsetOf(backend, out);
    const run = size * inner;
    for (let o = 0; o < outer; o++) copyRun(heap, dst + o * run, src + (o * along + begin) * inner, run);
    begin += size;
  });
  return outputs;
}

export const splitVConfig: KernelConfig = { kernelName: SplitV, backendName: 'wasm', kernelFunc: splitV as unknown as KernelFunc };
