import { backend_util, Concat, type ConcatAttrs, type KernelConfig, type KernelFunc, type TensorInfo, util } from '@tensorflow/tfjs-core';
import { BackendError } from '../backend.errors';
import { copyRun, heapOf, offsetOf, type KernelArgs } from './heap';
import { ops } from './originals';

/**
 * Concat as block copies inside the heap. The built-in kernel makes a subarray per input and outer
 * index, which on channel-axis concatenations (ConvLSTM gates, BCDU-Net merges: a few channels per
 * pixel) costs an allocation per pixel; it was the largest kernel of a tiny BCDU-Net training step.
 */
function concat({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const list = Object.values(inputs);
  const first = list[0];
  if (!first) throw new BackendError('Concat of no tensors');
  const { axis } = attrs as unknown as ConcatAttrs;
  const $axis = util.parseAxisParam(axis, first.shape)[0] ?? 0;
  const parts = list.filter((t) => util.sizeFromShape(t.shape) > 0);
  const bytes = first.dtype === 'float32' || first.dtype === 'int32' ? 4 : 0;
  if (bytes === 0 || parts.length < 2 || parts.some((t) => t.dtype !== first.dtype)) return ops().concat({ inputs, backend, attrs });
  backend_util.assertParamsConsistent(list.map((t) => t.shape), $axis);
  const outShape = backend_util.computeOutShape(list.map((t) => t.shape), $axis);
  const out = backend.makeOutput(outShape, first.dtype);
  // Whole 32-bit words (an Int32Array view): float32 and int32 data are copied bit for bit.
  const heap = new Int32Array(heapOf(backend, out).buffer);
  const outer = util.sizeFromShape(first.shape.slice(0, $axis));
  const inners = parts.map((t) => util.sizeFromShape(t.shape.slice($axis)));
  const total = inners.reduce((a, b) => a + b, 0);
  const dst = offsetOf(backend, out);
  let column = 0;
  parts.forEach((t, i) => {
    const inner = inners[i] ?? 0;
    const src = offsetOf(backend, t);
    for (let o = 0; o < outer; o++) copyRun(heap, dst + o * total + column, src + o * inner, inner);
    column += inner;
  });
  return out;
}

export const concatConfig: KernelConfig = { kernelName: Concat, backendName: 'wasm', kernelFunc: concat as unknown as KernelFunc };
