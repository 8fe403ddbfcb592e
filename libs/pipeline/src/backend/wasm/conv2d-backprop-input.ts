import { backend_util, Conv2DBackpropInput, type Conv2DBackpropInputAttrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { assertChannelsLast, assertShape, geometry2D, type Geometry2D, type Pad2D } from './geometry';
import { dispose, heapOf, offsetOf, type KernelArgs } from './heap';
import { col2imAdd } from './im2col';
import { matMul, ops, reshape } from './originals';
import { chunkFloats } from './settings';

/*
 * Conv2DBackpropInput: for stride 1 a forward convolution of dy with the flipped, transposed filter
 * (XNNPACK); otherwise dy · W^T followed by col2im.
 */

/** dx [n,h,w,ci] of a 2-D convolution, channels last; dy [n,oh,ow,co], filter [kh,kw,ci,co]. */
export function conv2dInputGrad(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: Geometry2D): TensorInfo {
  if (g.sh === 1 && g.sw === 1 && g.dh === 1 && g.dw === 1) {
    // dx = conv(dy, W flipped in space with in/out channels swapped), padded so that dx has h × w.
    const flipped = backend.makeOutput([g.kh, g.kw, g.co, g.ci], 'float32');
    const heap = heapOf(backend, flipped);
    const src = offsetOf(backend, filter);
    const dst = offsetOf(backend, flipped);
    for (let fy = 0; fy < g.kh; fy++) {
      for (let fx = 0; fx < g.kw; fx++) {
        const s = src + (fy * g.kw + fx) * g.ci * g.co;
        const d = dst + ((g.kh - 1 - fy) * g.kw + (g.kw - 1 - fx)) * g.co * g.ci;
        for (let c = 0; c < g.ci; c++) {
          for (let o = 0; o < g.co; o++) heap[d + o * g.ci + c] = heap[s + c * g.co + o] ?? 0;
        }
      }
    }
    const padTop = g.kh - 1 - g.top;
    const padLeft = g.kw - 1 - g.left;
    const padBottom = g.h - g.oh + g.top;
    const padRight = g.w - g.ow + g.left;
    if (padTop >= 0 && padLeft >= 0 && padBottom >= 0 && padRight >= 0) {
      const pad: backend_util.ExplicitPadding = [[0, 0], [padTop, padBottom], [padLeft, padRight], [0, 0]];
      const dx = ops().conv2d({
        inputs: { x: dy, filter: flipped },
        backend,
        attrs: { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined },
      } as unknown as KernelArgs);
      dispose(backend, flipped);
      return dx;
    }
    dispose(backend, flipped);
  }
  const k = g.kh * g.kw * g.ci;
  const rows = g.n * g.oh * g.ow;
  const w2d = reshape(backend, filter, [k, g.co]);
  const wT = ops().transpose({ inputs: { x: w2d }, backend, attrs: { perm: [1, 0] } });
  const wT3 = reshape(backend, wT, [1, g.co, k]);
  dispose(backend, w2d, wT);
  const dx = backend.makeOutput([g.n, g.h, g.w, g.ci], 'float32');
  heapOf(backend, dx).fill(0, offsetOf(backend, dx), offsetOf(backend, dx) + g.n * g.h * g.w * g.ci);
  const chunk = Math.max(1, Math.min(rows, Math.floor(chunkFloats() / k)));
  for (let m0 = 0; m0 < rows; m0 += chunk) {
    const m1 = Math.min(rows, m0 + chunk);
    const mc = m1 - m0;
    const dyc = backend.makeOutput([1, mc, g.co], 'float32');
    let heap = heapOf(backend, dyc);
    heap.copyWithin(offsetOf(backend, dyc), offsetOf(backend, dy) + m0 * g.co, offsetOf(backend, dy) + m1 * g.co);
    const dPatches = matMul(backend, dyc, wT3);
    heap = heapOf(backend, dPatches);
    col2imAdd(heap, offsetOf(backend, dPatches), offsetOf(backend, dx), g, m0, m1);
    dispose(backend, dyc, dPatches);
  }
  dispose(backend, wT3);
  return dx;
}

function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as Conv2DBackpropInputAttrs;
  assertChannelsLast(dataFormat, 'Conv2DBackpropInput');
  const info = backend_util.computeConv2DInfo(
    inputShape, filter.shape as [number, number, number, number], strides, 1, pad as Pad2D, dimRoundingMode);
  assertShape('Conv2DBackpropInput', 'dy', dy.shape, info.outShape);
  return conv2dInputGrad(backend, dy, filter, geometry2D(info));
}

export const conv2DBackpropInputConfig: KernelConfig = { kernelName: Conv2DBackpropInput, backendName: 'wasm', kernelFunc: conv2DBackpropInput as unknown as KernelFunc };
