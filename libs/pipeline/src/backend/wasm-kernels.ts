import * as tf from '@tensorflow/tfjs-core';
import { backend_util, util, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from './backend.errors';

/*
 * Kernels the wasm backend lacks or runs slowly, built on its fast kernels:
 * - Conv2DBackpropFilter: im2col (rows of channels copied inside the wasm heap) + one matrix multiply
 *   per chunk of output pixels (dy^T · patches, both untransposed: the backend's transposed matmul is
 *   20-40x slower).
 * - Conv2DBackpropInput: for stride 1 a forward convolution of dy with the flipped, transposed filter
 *   (XNNPACK); otherwise dy · W^T followed by col2im.
 * - Conv3D / Conv3DBackpropInputV2 / Conv3DBackpropFilterV2: split along the filter depth into 2-D
 *   convolutions over all (batch, output depth) pairs, so each 3-D op costs a few fast 2-D ops.
 * - BatchMatMul with transposed operands: transposes first, then the fast untransposed path.
 */

type KernelArgs = { inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs?: NamedAttrMap };
type WasmKernelFunc = (args: KernelArgs) => TensorInfo | TensorInfo[];
type SingleKernelFunc = (args: KernelArgs) => TensorInfo;

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

interface Originals {
  batchMatMul: SingleKernelFunc;
  conv2d: SingleKernelFunc;
  transpose: SingleKernelFunc;
  reshape: SingleKernelFunc;
  reverse: SingleKernelFunc;
  sum: SingleKernelFunc;
  concat: SingleKernelFunc;
}
let originals: Originals | null = null;

function originalKernel(name: string): SingleKernelFunc {
  const config = tf.getKernel(name, 'wasm');
  if (!config) throw new BackendError(`the wasm backend has no ${name} kernel`);
  return config.kernelFunc as unknown as SingleKernelFunc;
}

function ops(): Originals {
  if (!originals) throw new BackendError('wasm kernels used before registerWasmKernels()');
  return originals;
}

function heapOf(backend: BackendWasm, anyInfo: TensorInfo): Float32Array {
  return new Float32Array(backend.typedArrayFromHeap(anyInfo).buffer);
}

function offsetOf(backend: BackendWasm, info: TensorInfo): number {
  return backend.dataIdMap.get(info.dataId).memoryOffset / 4;
}

function dispose(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

function matMul(backend: BackendWasm, a: TensorInfo, b: TensorInfo): TensorInfo {
  return ops().batchMatMul({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } });
}

function reshape(backend: BackendWasm, x: TensorInfo, shape: number[]): TensorInfo {
  return ops().reshape({ inputs: { x }, backend, attrs: { shape } });
}

function assertChannelsLast(format: unknown, kernel: string): void {
  if (format !== undefined && format !== 'NHWC' && format !== 'NDHWC' && format !== 'channelsLast') {
    throw new BackendError(`${kernel} on wasm supports channels-last data only, got ${String(format)}`);
  }
}

type Pad2D = 'valid' | 'same' | number | backend_util.ExplicitPadding;

/** Geometry of a 2-D convolution (channels last). */
interface Geometry2D {
  n: number; h: number; w: number; ci: number;
  kh: number; kw: number; co: number;
  oh: number; ow: number;
  sh: number; sw: number; dh: number; dw: number;
  top: number; left: number;
}

function assertShape(kernel: string, what: string, got: readonly number[], want: readonly number[]): void {
  if (got.length !== want.length || got.some((v, i) => v !== want[i])) {
    throw new BackendError(`${kernel}: ${what} has shape [${got.join(', ')}], expected [${want.join(', ')}]`);
  }
}

function geometry2D(info: backend_util.Conv2DInfo): Geometry2D {
  return {
    n: info.batchSize, h: info.inHeight, w: info.inWidth, ci: info.inChannels,
    kh: info.filterHeight, kw: info.filterWidth, co: info.outChannels,
    oh: info.outHeight, ow: info.outWidth,
    sh: info.strideHeight, sw: info.strideWidth, dh: info.dilationHeight, dw: info.dilationWidth,
    top: info.padInfo.top, left: info.padInfo.left,
  };
}

/** Adds the patch-gradient rows [m0, m1) at `src` into dx (the inverse of im2col). */
function col2imAdd(heap: Float32Array, src: number, dx: number, g: Geometry2D, m0: number, m1: number): void {
  const { h, w, ci, kh, kw, oh, ow, sh, sw, dh, dw, top, left } = g;
  const k = kh * kw * ci;
  let ox = m0 % ow;
  let oy = Math.floor(m0 / ow) % oh;
  let n = Math.floor(m0 / (ow * oh));
  let row = src;
  for (let m = m0; m < m1; m++) {
    let col = row;
    for (let fy = 0; fy < kh; fy++) {
      const iy = oy * sh + fy * dh - top;
      if (iy < 0 || iy >= h) {
        col += kw * ci;
        continue;
      }
      const rowBase = dx + (n * h + iy) * w * ci;
      for (let fx = 0; fx < kw; fx++) {
        const ix = ox * sw + fx * dw - left;
        if (ix >= 0 && ix < w) {
          const d = rowBase + ix * ci;
          for (let c = 0; c < ci; c++) heap[d + c] = (heap[d + c] ?? 0) + (heap[col + c] ?? 0);
        }
        col += ci;
      }
    }
    row += k;
    if (++ox === ow) {
      ox = 0;
      if (++oy === oh) {
        oy = 0;
        n++;
      }
    }
  }
}

/** Output pixels handled per block by {@link im2colT}: its reads and writes stay in cache. */
const IM2COL_BLOCK = 256;
const blockSources = new Int32Array(IM2COL_BLOCK);

/**
 * Fills the transposed patch matrix for output pixels [m0, m1): row (kh, kw, ci), column m - m0, at
 * `dst` (so `patches^T · dy` multiplies untransposed). Works in blocks of output pixels so that the
 * ci row streams it writes do not thrash the cache.
 */
function im2colT(heap: Float32Array, x: number, dst: number, g: Geometry2D, m0: number, m1: number): void {
  const { h, w, ci, kh, kw, oh, ow, sh, sw, dh, dw, top, left } = g;
  const mc = m1 - m0;
  for (let b0 = m0; b0 < m1; b0 += IM2COL_BLOCK) {
    const b1 = Math.min(m1, b0 + IM2COL_BLOCK);
    const count = b1 - b0;
    for (let fy = 0; fy < kh; fy++) {
      for (let fx = 0; fx < kw; fx++) {
        let ox = b0 % ow;
        let oy = Math.floor(b0 / ow) % oh;
        let n = Math.floor(b0 / (ow * oh));
        for (let j = 0; j < count; j++) {
          const iy = oy * sh + fy * dh - top;
          const ix = ox * sw + fx * dw - left;
          blockSources[j] = iy < 0 || iy >= h || ix < 0 || ix >= w ? -1 : x + ((n * h + iy) * w + ix) * ci;
          if (++ox === ow) {
            ox = 0;
            if (++oy === oh) {
              oy = 0;
              n++;
            }
          }
        }
        const rowBase = dst + (fy * kw + fx) * ci * mc + (b0 - m0);
        for (let c = 0; c < ci; c++) {
          const row = rowBase + c * mc;
          for (let j = 0; j < count; j++) {
            const src = blockSources[j] ?? -1;
            heap[row + j] = src < 0 ? 0 : (heap[src + c] ?? 0);
          }
        }
      }
    }
  }
}

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
function conv2dFilterGrad(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, g: Geometry2D): TensorInfo {
  const byConv = useConvFilterGrad ? conv2dFilterGradByConv(backend, x, dy, g) : null;
  if (byConv) return byConv;
  const k = g.kh * g.kw * g.ci;
  const rows = g.n * g.oh * g.ow;
  const chunk = Math.max(1, Math.min(rows, Math.floor(CHUNK_FLOATS / k)));
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

/** dx [n,h,w,ci] of a 2-D convolution, channels last; dy [n,oh,ow,co], filter [kh,kw,ci,co]. */
function conv2dInputGrad(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: Geometry2D): TensorInfo {
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
  const chunk = Math.max(1, Math.min(rows, Math.floor(CHUNK_FLOATS / k)));
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

function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  assertChannelsLast(dataFormat, 'Conv2DBackpropFilter');
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, 1, pad as Pad2D, dimRoundingMode);
  assertShape('Conv2DBackpropFilter', 'dy', dy.shape, info.outShape);
  return conv2dFilterGrad(backend, x, dy, geometry2D(info));
}

function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  assertChannelsLast(dataFormat, 'Conv2DBackpropInput');
  const info = backend_util.computeConv2DInfo(
    inputShape, filter.shape as [number, number, number, number], strides, 1, pad as Pad2D, dimRoundingMode);
  assertShape('Conv2DBackpropInput', 'dy', dy.shape, info.outShape);
  return conv2dInputGrad(backend, dy, filter, geometry2D(info));
}

/** Geometry of a 3-D convolution split into 2-D ones along the filter depth. */
interface Geometry3D {
  n: number; d: number; od: number; sd: number; dd: number; front: number; kd: number;
  plane: Geometry2D; // the 2-D problem for one filter depth, batch = n × od
}

function geometry3D(info: backend_util.Conv3DInfo, kernel: string, dyShape?: readonly number[]): Geometry3D {
  if (dyShape) assertShape(kernel, 'dy', dyShape, info.outShape);
  return {
    n: info.batchSize, d: info.inDepth, od: info.outDepth, sd: info.strideDepth, dd: info.dilationDepth,
    front: info.padInfo.front, kd: info.filterDepth,
    plane: {
      n: info.batchSize * info.outDepth, h: info.inHeight, w: info.inWidth, ci: info.inChannels,
      kh: info.filterHeight, kw: info.filterWidth, co: info.outChannels,
      oh: info.outHeight, ow: info.outWidth,
      sh: info.strideHeight, sw: info.strideWidth, dh: info.dilationHeight, dw: info.dilationWidth,
      top: info.padInfo.top, left: info.padInfo.left,
    },
  };
}

/** x depth index read by output depth `od` at filter depth `fd`, or -1 in the padding. */
function sourceDepth(g: Geometry3D, od: number, fd: number): number {
  const z = od * g.sd + fd * g.dd - g.front;
  return z >= 0 && z < g.d ? z : -1;
}

/** The [n × od, h, w, ci] stack of x planes that filter depth `fd` sees (zeros in the padding). */
function gatherPlanes(backend: BackendWasm, x: TensorInfo, g: Geometry3D, fd: number): TensorInfo {
  const p = g.plane;
  const planeSize = p.h * p.w * p.ci;
  const out = backend.makeOutput([p.n, p.h, p.w, p.ci], 'float32');
  const heap = heapOf(backend, out);
  const src = offsetOf(backend, x);
  const dst = offsetOf(backend, out);
  for (let b = 0; b < g.n; b++) {
    for (let od = 0; od < g.od; od++) {
      const z = sourceDepth(g, od, fd);
      const to = dst + (b * g.od + od) * planeSize;
      if (z < 0) heap.fill(0, to, to + planeSize);
      else heap.copyWithin(to, src + (b * g.d + z) * planeSize, src + (b * g.d + z + 1) * planeSize);
    }
  }
  return out;
}

function filterSlice(backend: BackendWasm, filter: TensorInfo, fd: number, sliceSize: number, shape: number[]): TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  const heap = heapOf(backend, out);
  const src = offsetOf(backend, filter) + fd * sliceSize;
  heap.copyWithin(offsetOf(backend, out), src, src + sliceSize);
  return out;
}

function addInto(heap: Float32Array, dst: number, src: number, size: number): void {
  for (let i = 0; i < size; i++) heap[dst + i] = (heap[dst + i] ?? 0) + (heap[src + i] ?? 0);
}

function conv3DInfo(
  kernel: string, xShape: number[], filterShape: number[], strides: unknown, pad: unknown, dilations: unknown, dyShape?: number[],
): Geometry3D {
  return geometry3D(backend_util.computeConv3DInfo(
    xShape as [number, number, number, number, number],
    filterShape as [number, number, number, number, number],
    strides as [number, number, number], (dilations ?? 1) as [number, number, number], pad as 'same' | 'valid'),
    kernel, dyShape);
}

function conv3D({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dilations } = attrs as unknown as tf.Conv3DAttrs;
  assertChannelsLast(dataFormat, 'Conv3D');
  const g = conv3DInfo('Conv3D', x.shape, filter.shape, strides, pad, dilations);
  const p = g.plane;
  const sliceSize = p.kh * p.kw * p.ci * p.co;
  const outSize = p.n * p.oh * p.ow * p.co;
  let out: TensorInfo | null = null;
  for (let fd = 0; fd < g.kd; fd++) {
    const planes = gatherPlanes(backend, x, g, fd);
    const w = filterSlice(backend, filter, fd, sliceSize, [p.kh, p.kw, p.ci, p.co]);
    const y = ops().conv2d({
      inputs: { x: planes, filter: w },
      backend,
      attrs: { strides: [p.sh, p.sw], pad, dataFormat: 'NHWC', dilations: [p.dh, p.dw], dimRoundingMode: undefined },
    } as unknown as KernelArgs);
    dispose(backend, planes, w);
    if (out === null) {
      out = y;
    } else {
      addInto(heapOf(backend, y), offsetOf(backend, out), offsetOf(backend, y), outSize);
      dispose(backend, y);
    }
  }
  if (out === null) throw new BackendError('Conv3D with an empty filter');
  const result = reshape(backend, out, [g.n, g.od, p.oh, p.ow, p.co]);
  dispose(backend, out);
  return result;
}

function conv3DBackpropInputV2({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, inputShape } = attrs as unknown as tf.Conv3DBackpropInputV2Attrs;
  const g = conv3DInfo('Conv3DBackpropInputV2', inputShape, filter.shape, strides, pad, 1, dy.shape);
  const p = g.plane;
  const planeSize = p.h * p.w * p.ci;
  const sliceSize = p.kh * p.kw * p.ci * p.co;
  const total = g.n * g.d * planeSize;
  const dx = backend.makeOutput([...inputShape], 'float32');
  heapOf(backend, dx).fill(0, offsetOf(backend, dx), offsetOf(backend, dx) + total);
  const dy4 = reshape(backend, dy, [p.n, p.oh, p.ow, p.co]);
  for (let fd = 0; fd < g.kd; fd++) {
    const w = filterSlice(backend, filter, fd, sliceSize, [p.kh, p.kw, p.ci, p.co]);
    const planes = conv2dInputGrad(backend, dy4, w, p);
    const heap = heapOf(backend, planes);
    const src = offsetOf(backend, planes);
    const dst = offsetOf(backend, dx);
    for (let b = 0; b < g.n; b++) {
      for (let od = 0; od < g.od; od++) {
        const z = sourceDepth(g, od, fd);
        if (z >= 0) addInto(heap, dst + (b * g.d + z) * planeSize, src + (b * g.od + od) * planeSize, planeSize);
      }
    }
    dispose(backend, w, planes);
  }
  dispose(backend, dy4);
  return dx;
}

function conv3DBackpropFilterV2({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, filterShape } = attrs as unknown as tf.Conv3DBackpropFilterV2Attrs;
  const g = conv3DInfo('Conv3DBackpropFilterV2', x.shape, filterShape, strides, pad, 1, dy.shape);
  const p = g.plane;
  const sliceSize = p.kh * p.kw * p.ci * p.co;
  const dw = backend.makeOutput([...filterShape], 'float32');
  const dy4 = reshape(backend, dy, [p.n, p.oh, p.ow, p.co]);
  for (let fd = 0; fd < g.kd; fd++) {
    const planes = gatherPlanes(backend, x, g, fd);
    const part = conv2dFilterGrad(backend, planes, dy4, p);
    const heap = heapOf(backend, part);
    const to = offsetOf(backend, dw) + fd * sliceSize;
    heap.copyWithin(to, offsetOf(backend, part), offsetOf(backend, part) + sliceSize);
    dispose(backend, planes, part);
  }
  dispose(backend, dy4);
  return dw;
}

function batchMatMul({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
  if (!transposeA && !transposeB) return ops().batchMatMul({ inputs, backend, attrs });
  const swapLast = (t: TensorInfo): TensorInfo => {
    const perm = t.shape.map((_, i) => i);
    const r = perm.length;
    perm[r - 1] = r - 2;
    perm[r - 2] = r - 1;
    return ops().transpose({ inputs: { x: t }, backend, attrs: { perm } });
  };
  const a2 = transposeA ? swapLast(a) : a;
  const b2 = transposeB ? swapLast(b) : b;
  const out = ops().batchMatMul({ inputs: { a: a2, b: b2 }, backend, attrs: { transposeA: false, transposeB: false } });
  if (transposeA) dispose(backend, a2);
  if (transposeB) dispose(backend, b2);
  return out;
}

/** Copies `count` floats inside the heap: copyWithin for long runs, a loop for short ones. */
function copyRun(heap: Float32Array | Int32Array, dst: number, src: number, count: number): void {
  if (count >= 16) heap.copyWithin(dst, src, src + count);
  else for (let i = 0; i < count; i++) heap[dst + i] = heap[src + i] ?? 0;
}

/** SplitV as block copies (the built-in one runs a strided slice per output and is very slow). */
function splitV({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
  const { x } = inputs as { x: TensorInfo };
  const { numOrSizeSplits, axis } = attrs as unknown as tf.SplitVAttrs;
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

/**
 * Concat as block copies inside the heap. The built-in kernel makes a subarray per input and outer
 * index, which on channel-axis concatenations (ConvLSTM gates, BCDU-Net merges: a few channels per
 * pixel) costs an allocation per pixel; it was the largest kernel of a tiny BCDU-Net training step.
 */
function concat({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const list = Object.values(inputs);
  const first = list[0];
  if (!first) throw new BackendError('Concat of no tensors');
  const { axis } = attrs as unknown as tf.ConcatAttrs;
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

/** Transpose by block copies when the trailing axes stay in place; otherwise the built-in kernel. */
function transpose({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x } = inputs as { x: TensorInfo };
  const { perm } = attrs as unknown as tf.TransposeAttrs;
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

/** Reverse along one axis by block copies; several axes go to the built-in kernel. */
function reverse({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x } = inputs as { x: TensorInfo };
  const { dims } = attrs as unknown as tf.ReverseAttrs;
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

/**
 * Sum over leading axes (e.g. a bias gradient over batch and space) as one pass of adds; the built-in
 * kernel first transposes the reduced axes to the end, which is slow. Other reductions: built-in.
 */
function sum({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x } = inputs as { x: TensorInfo };
  const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
  const axes = [...new Set(util.parseAxisParam(axis, x.shape))].sort((a, b) => a - b);
  const prefix = axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i);
  if (!prefix || x.dtype !== 'float32') return ops().sum({ inputs, backend, attrs });
  const outer = util.sizeFromShape(x.shape.slice(0, axes.length));
  const innerShape = x.shape.slice(axes.length);
  const inner = util.sizeFromShape(innerShape);
  const acc = new Float64Array(inner);
  const values = backend.typedArrayFromHeap(x);
  for (let o = 0; o < outer; o++) {
    const base = o * inner;
    for (let j = 0; j < inner; j++) acc[j] = (acc[j] ?? 0) + (values[base + j] ?? 0);
  }
  const shape = keepDims ? [...axes.map(() => 1), ...innerShape] : innerShape;
  return backend.makeOutput(shape, 'float32', undefined, Float32Array.from(acc));
}

/**
 * MaxPool3DGrad in one pass: per output voxel, the last maximum of its window (the cpu backend's
 * tie rule) receives dy. The built-in kernel was 11 % of a paper-size 3-D CNN training step.
 */
function maxPool3DGrad({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPool3DGradAttrs;
  const info = backend_util.computePool3DInfo(
    input.shape as [number, number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  assertShape('MaxPool3DGrad', 'dy', dy.shape, info.outShape);
  const [n, d, h, w, c] = input.shape as [number, number, number, number, number];
  const dx = backend.makeOutput([...input.shape], 'float32');
  const heap = heapOf(backend, dx);
  const x0 = offsetOf(backend, input);
  const dy0 = offsetOf(backend, dy);
  const dx0 = offsetOf(backend, dx);
  heap.fill(0, dx0, dx0 + n * d * h * w * c);
  const best = new Float32Array(c);
  const at = new Int32Array(c);
  let out = dy0;
  for (let b = 0; b < n; b++) {
    for (let od = 0; od < info.outDepth; od++) {
      const z0 = od * info.strideDepth - info.padInfo.front;
      const z1 = Math.min(d, z0 + info.effectiveFilterDepth);
      for (let oh = 0; oh < info.outHeight; oh++) {
        const y0 = oh * info.strideHeight - info.padInfo.top;
        const y1 = Math.min(h, y0 + info.effectiveFilterHeight);
        for (let ow = 0; ow < info.outWidth; ow++) {
          const xa = ow * info.strideWidth - info.padInfo.left;
          const xb = Math.min(w, xa + info.effectiveFilterWidth);
          best.fill(-Infinity);
          at.fill(-1);
          for (let z = Math.max(0, z0); z < z1; z++) {
            for (let y = Math.max(0, y0); y < y1; y++) {
              for (let xx = Math.max(0, xa); xx < xb; xx++) {
                const base = (((b * d + z) * h + y) * w + xx) * c;
                for (let ch = 0; ch < c; ch++) {
                  const v = heap[x0 + base + ch] ?? -Infinity;
                  if (v >= (best[ch] ?? -Infinity)) {
                    best[ch] = v;
                    at[ch] = base + ch;
                  }
                }
              }
            }
          }
          for (let ch = 0; ch < c; ch++) {
            const i = at[ch] ?? -1;
            if (i >= 0) heap[dx0 + i] = (heap[dx0 + i] ?? 0) + (heap[out + ch] ?? 0);
          }
          out += c;
        }
      }
    }
  }
  return dx;
}

const KERNELS: [string, WasmKernelFunc][] = [
  ['MaxPool3DGrad', maxPool3DGrad],
  ['Sum', sum],
  ['SplitV', splitV],
  ['Concat', concat as unknown as WasmKernelFunc],
  ['Transpose', transpose],
  ['Reverse', reverse],
  ['Conv2DBackpropFilter', conv2DBackpropFilter],
  ['Conv2DBackpropInput', conv2DBackpropInput],
  ['Conv3D', conv3D],
  ['Conv3DBackpropInputV2', conv3DBackpropInputV2],
  ['Conv3DBackpropFilterV2', conv3DBackpropFilterV2],
  ['BatchMatMul', batchMatMul],
];

/**
 * Registers this project's kernels on the wasm backend (replacing slow built-in ones). Call after the
 * wasm backend is initialised; calling again does nothing. Returns the kernel names.
 */
export function registerWasmKernels(): string[] {
  if (originals) return KERNELS.map(([name]) => name);
  originals = {
    batchMatMul: originalKernel('BatchMatMul'),
    conv2d: originalKernel('Conv2D'),
    transpose: originalKernel('Transpose'),
    reshape: originalKernel('Reshape'),
    reverse: originalKernel('Reverse'),
    sum: originalKernel('Sum'),
    concat: originalKernel('Concat'),
  };
  for (const [kernelName, kernelFunc] of KERNELS) {
    if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
  return KERNELS.map(([name]) => name);
}
