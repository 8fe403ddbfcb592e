import { backend_util, Conv2DBackpropFilter, type Conv2DBackpropFilterAttrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { assertChannelsLast, assertShape, geometry2D, type Geometry2D, type Pad2D } from './geometry';
import { dispose, heapOf, offsetOf, type KernelArgs } from './heap';
import { im2colT } from './im2col';
import { matMul, ops, reshape } from './originals';
import { chunkFloats, filterGradByConv } from './settings';
import { transpose } from './transpose';

/*
 * Conv2DBackpropFilter: for stride 1 one XNNPACK convolution (below); otherwise im2col (rows of
 * channels copied inside the wasm heap) + one matrix multiply per chunk of output pixels
 * (dy^T · patches, both untransposed: the backend's transposed matmul is 20-40x slower).
 */

/**
 * dW for stride 1 as ONE XNNPACK convolution, no im2col: with the batch as channels,
 * dW[kh, kw, ci, co] = Σ_{n,y,x} x[n, y+kh, x+kw, ci] · dy[n, y, x, co] is conv(x^T [ci, h, w, n],
 * dy^T [oh, ow, n, co]) → [ci, kh, kw, co]. Faster than im2col for up to 64 input channels (measured);
 * returns null where it does not apply.
 */
function conv2dFilterGradByConv(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, g: Geometry2D): TensorInfo | null {
  if (g.sh !== 1 || g.sw !== 1 || g.dh !== 1 || g.dw !== 1 || g.ci > 64) return null;
  const bottom = g.kh - 1 + g.oh - g.h - g.top;
  const right = g.kw - 1 + g.ow - g.w - g.left;
  if (g.top < 0 || g.left < 0 || bottom < 0 || right < 0) return null;
  const xt = backend.makeOutput([g.ci, g.h, g.w, g.n], 'float32');
  const heap = heapOf(backend, xt);
  const src = offsetOf(backend, x);
  const dst = offsetOf(backend, xt);
  const plane = g.h * g.w;
  for (let b = 0; b < g.n; b++) {
    for (let p = 0; p < plane; p++) {
      const from = src + (b * plane + p) * g.ci;
      for (let c = 0; c < g.ci; c++) heap[dst + (c * plane + p) * g.n + b] = heap[from + c] ?? 0;
    }
  }
  const ft = transpose({ inputs: { x: dy }, backend, attrs: { perm: [1, 2, 0, 3] } });
  const pad: backend_util.ExplicitPadding = [[0, 0], [g.top, bottom], [g.left, right], [0, 0]];
  const out = ops().conv2d({
    inputs: { x: xt, filter: ft },
    backend,
    attrs: { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined },
  } as unknown as KernelArgs);
  dispose(backend, xt, ft);
  const dw = transpose({ inputs: { x: out }, backend, attrs: { perm: [1, 2, 0, 3] } });
  dispose(backend, out);
  return dw;
}

/** dW [kh, kw, ci, co] of a 2-D convolution, channels last; x [n,h,w,ci], dy [n,oh,ow,co]. */
export function conv2dFilterGrad(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, g: Geometry2D): TensorInfo {
  const byConv = filterGradByConv() ? conv2dFilterGradByConv(backend, x, dy, g) : null;
  if (byConv) return byConv;
  const k = g.kh * g.kw * g.ci;
  const rows = g.n * g.oh * g.ow;
  const chunk = Math.max(1, Math.min(rows, Math.floor(chunkFloats() / k)));
  let acc: Float32Array | null = null;
  let single: TensorInfo | null = null;
  for (let m0 = 0; m0 < rows; m0 += chunk) {
    const m1 = Math.min(rows, m0 + chunk);
    const mc = m1 - m0;
    // patches^T [k, mc] · dy[m0:m1] [mc, co] = dW part [k, co], already in filter layout.
    const patchesT = backend.makeOutput([1, k, mc], 'float32');
    const dyc = mc === rows ? reshape(backend, dy, [1, rows, g.co]) : backend.makeOutput([1, mc, g.co], 'float32');
    const heap = heapOf(backend, patchesT);
    im2colT(heap, offsetOf(backend, x), offsetOf(backend, patchesT), g, m0, m1);
    if (mc !== rows) {
      const src = offsetOf(backend, dy);
      heap.copyWithin(offsetOf(backend, dyc), src + m0 * g.co, src + m1 * g.co);
    }
    const part = matMul(backend, patchesT, dyc);
    dispose(backend, patchesT, dyc);
    if (mc === rows) {
      single = part;
    } else {
      const values = backend.typedArrayFromHeap(part);
      if (acc === null) acc = Float32Array.from(values);
      else for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] ?? 0) + (values[i] ?? 0);
      dispose(backend, part);
    }
  }
  const shape = [g.kh, g.kw, g.ci, g.co];
  if (single) {
    const out = reshape(backend, single, shape);
    dispose(backend, single);
    return out;
  }
  return backend.makeOutput(shape, 'float32', undefined, acc ?? new Float32Array(k * g.co));
}

function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs;
  assertChannelsLast(dataFormat, 'Conv2DBackpropFilter');
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, 1, pad as Pad2D, dimRoundingMode);
  assertShape('Conv2DBackpropFilter', 'dy', dy.shape, info.outShape);
  return conv2dFilterGrad(backend, x, dy, geometry2D(info));
}

export const conv2DBackpropFilterConfig: KernelConfig = { kernelName: Conv2DBackpropFilter, backendName: 'wasm', kernelFunc: conv2DBackpropFilter as unknown as KernelFunc };
