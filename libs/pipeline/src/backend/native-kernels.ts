import * as tf from '@tensorflow/tfjs-core';
import { backend_util, util, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from './backend.errors';

/*
 * The `native` backend: the TensorFlow.js wasm backend (its tensors, memory and every other kernel)
 * with the convolutions that carry a training step's time run by oneDNN in a Node-API addon
 * (`@fedct/native`, built at install where libdnnl-dev exists). The addon reads and writes the
 * tensors inside the wasm heap: no copy between JavaScript and C++. oneDNN picks AVX2 / AVX-512 / AMX
 * at run time and threads with OpenMP over the cores it is given.
 *
 * Replaced kernels: Conv2D, FusedConv2D (bias and relu / leaky relu / relu6 / sigmoid / elu fused in),
 * Conv2DBackpropInput, Conv2DBackpropFilter, Conv3D, Conv3DBackpropInputV2, Conv3DBackpropFilterV2;
 * and, as plain C++ loops, MaxPool3D, MaxPool3DGrad and Sum over leading axes (the bias gradients),
 * which after the convolutions were the largest kernels of a tiny 3-D CNN step.
 * What they cannot do (channels-first data, prelu, other reductions) goes to the kernel they replaced.
 */

interface NativeAddon {
  conv(op: 0 | 1 | 2, heap: ArrayBuffer, offsets: Float64Array, geometry: Int32Array, activation?: number, alpha?: number): void;
  pool3d(op: 0 | 1, heap: ArrayBuffer, offsets: Float64Array, geometry: Int32Array): void;
  sumLeading(heap: ArrayBuffer, x: number, out: number, outer: number, inner: number): void;
  info(): { version: string; isa: string; threads: number; cached: number };
  setThreads(threads: number): void;
}

type KernelArgs = { inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs?: NamedAttrMap };
type KernelFunc = (args: KernelArgs) => TensorInfo;

const FORWARD = 0;
const BACKWARD_DATA = 1;
const BACKWARD_WEIGHTS = 2;

const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, leakyrelu: 2, sigmoid: 3, relu6: 4, elu: 5 };

/** What {@link loadNativeAddon} found. */
export interface NativeStatus {
  available: boolean;
  /** Why not, when not available. */
  reason: string | null;
  version: string | null;
  /** The instruction set oneDNN dispatches to on this CPU (avx2, avx512_core, ...). */
  isa: string | null;
}

let addon: NativeAddon | null = null;
let status: NativeStatus | null = null;
/** The kernels the native ones replaced, to fall back to and to restore. */
const replaced = new Map<string, tf.KernelConfig>();

/** Loads `@fedct/native` once; never throws (a missing addon is a reason, not an error). */
export function loadNativeAddon(): NativeStatus {
  if (status) return status;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loaded = (require('@fedct/native') as { load(): { addon: NativeAddon | null; reason: string | null } }).load();
    addon = loaded.addon;
    if (addon) {
      const info = addon.info();
      status = { available: true, reason: null, version: info.version, isa: info.isa };
    } else {
      status = { available: false, reason: loaded.reason ?? 'not built', version: null, isa: null };
    }
  } catch (error) {
    status = { available: false, reason: `@fedct/native is not installed (${(error as Error).message.split('\n')[0]})`, version: null, isa: null };
  }
  return status;
}

/** Sets oneDNN's OpenMP threads for kernels run from this thread; returns the count in effect. */
export function setNativeThreads(threads: number): number {
  if (!addon) throw new BackendError('native kernels are not loaded');
  addon.setThreads(threads);
  return addon.info().threads;
}

function native(): NativeAddon {
  if (!addon) throw new BackendError('native kernels used before they were loaded');
  return addon;
}

function original(name: string, args: KernelArgs): TensorInfo {
  const config = replaced.get(name);
  if (!config) throw new BackendError(`no fallback kernel for ${name}`);
  return (config.kernelFunc as unknown as KernelFunc)(args);
}

function offsetOf(backend: BackendWasm, info: TensorInfo): number {
  return backend.dataIdMap.get(info.dataId).memoryOffset as number;
}

function channelsLast(format: unknown): boolean {
  return format === undefined || format === 'NHWC' || format === 'NDHWC' || format === 'channelsLast';
}

/** The addon's geometry vector: rank, n, ci, co, then (d, h, w) of input, kernel, output, stride, dilation, pads. */
function geometry2D(info: backend_util.Conv2DInfo): Int32Array {
  const p = info.padInfo;
  return Int32Array.from([
    2, info.batchSize, info.inChannels, info.outChannels,
    1, info.inHeight, info.inWidth,
    1, info.filterHeight, info.filterWidth,
    1, info.outHeight, info.outWidth,
    1, info.strideHeight, info.strideWidth,
    1, info.dilationHeight, info.dilationWidth,
    0, p.top, p.left,
    0, p.bottom, p.right,
  ]);
}

function geometry3D(info: backend_util.Conv3DInfo): Int32Array {
  const p = info.padInfo;
  return Int32Array.from([
    3, info.batchSize, info.inChannels, info.outChannels,
    info.inDepth, info.inHeight, info.inWidth,
    info.filterDepth, info.filterHeight, info.filterWidth,
    info.outDepth, info.outHeight, info.outWidth,
    info.strideDepth, info.strideHeight, info.strideWidth,
    info.dilationDepth, info.dilationHeight, info.dilationWidth,
    p.front, p.top, p.left,
    p.back, p.bottom, p.right,
  ]);
}

function assertShape(kernel: string, what: string, got: readonly number[], want: readonly number[]): void {
  if (got.length !== want.length || got.some((v, i) => v !== want[i])) {
    throw new BackendError(`${kernel}: ${what} has shape [${got.join(', ')}], expected [${want.join(', ')}]`);
  }
}

/** The wasm heap, read after every allocation: allocating may have grown (replaced) the wasm memory. */
function heapOf(backend: BackendWasm): ArrayBuffer {
  return (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer as ArrayBuffer;
}

/** Runs one convolution; `a`, `b` are the inputs, `out` the (already allocated) output. */
function convolve(backend: BackendWasm, op: 0 | 1 | 2, a: TensorInfo, b: TensorInfo, out: TensorInfo, geometry: Int32Array, bias: TensorInfo | null = null, activation = 0, alpha = 0): TensorInfo {
  const heap = heapOf(backend);
  const offsets = Float64Array.from([offsetOf(backend, a), offsetOf(backend, b), offsetOf(backend, out), bias ? offsetOf(backend, bias) : -1]);
  native().conv(op, heap, offsets, geometry, activation, alpha);
  return out;
}

type Pad2D = 'valid' | 'same' | number | backend_util.ExplicitPadding;

function conv2D(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs as unknown as tf.Conv2DAttrs;
  if (!channelsLast(dataFormat)) return original('Conv2D', args);
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], strides, dilations, pad as Pad2D, dimRoundingMode, false, 'channelsLast');
  return convolve(backend, FORWARD, x, filter, backend.makeOutput(info.outShape, 'float32'), geometry2D(info));
}

function fusedConv2D(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, filter, bias, preluActivationWeights } = inputs as { x: TensorInfo; filter: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
  const { strides, pad, dataFormat, dilations, dimRoundingMode, activation, leakyreluAlpha } = attrs as unknown as tf.FusedConv2DAttrs;
  const code = ACTIVATIONS[activation ?? 'linear'];
  const co = filter.shape[3] ?? 0;
  const biasFits = !bias || (bias.shape.reduce((n, d) => n * d, 1) === co && bias.dtype === 'float32');
  if (!channelsLast(dataFormat) || code === undefined || preluActivationWeights || !biasFits) return original('FusedConv2D', args);
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], strides, dilations, pad as Pad2D, dimRoundingMode, false, 'channelsLast');
  return convolve(backend, FORWARD, x, filter, backend.makeOutput(info.outShape, 'float32'), geometry2D(info), bias ?? null, code, leakyreluAlpha ?? 0.2);
}

function conv2DBackpropInput(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  if (!channelsLast(dataFormat)) return original('Conv2DBackpropInput', args);
  const info = backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad as Pad2D, dimRoundingMode);
  assertShape('Conv2DBackpropInput', 'dy', dy.shape, info.outShape);
  return convolve(backend, BACKWARD_DATA, dy, filter, backend.makeOutput([...inputShape], 'float32'), geometry2D(info));
}

function conv2DBackpropFilter(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (!channelsLast(dataFormat)) return original('Conv2DBackpropFilter', args);
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad as Pad2D, dimRoundingMode);
  assertShape('Conv2DBackpropFilter', 'dy', dy.shape, info.outShape);
  return convolve(backend, BACKWARD_WEIGHTS, x, dy, backend.makeOutput([...filterShape], 'float32'), geometry2D(info));
}

function conv3DInfo(x: readonly number[], filter: readonly number[], strides: unknown, dilations: unknown, pad: unknown): backend_util.Conv3DInfo {
  return backend_util.computeConv3DInfo(
    x as [number, number, number, number, number], filter as [number, number, number, number, number],
    strides as [number, number, number], (dilations ?? 1) as [number, number, number], pad as 'same' | 'valid');
}

function conv3D(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dilations } = attrs as unknown as tf.Conv3DAttrs;
  if (!channelsLast(dataFormat)) return original('Conv3D', args);
  const info = conv3DInfo(x.shape, filter.shape, strides, dilations, pad);
  return convolve(backend, FORWARD, x, filter, backend.makeOutput(info.outShape, 'float32'), geometry3D(info));
}

function conv3DBackpropInputV2(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, inputShape } = attrs as unknown as tf.Conv3DBackpropInputV2Attrs;
  const info = conv3DInfo(inputShape, filter.shape, strides, 1, pad);
  assertShape('Conv3DBackpropInputV2', 'dy', dy.shape, info.outShape);
  return convolve(backend, BACKWARD_DATA, dy, filter, backend.makeOutput([...inputShape], 'float32'), geometry3D(info));
}

function conv3DBackpropFilterV2(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, filterShape } = attrs as unknown as tf.Conv3DBackpropFilterV2Attrs;
  const info = conv3DInfo(x.shape, filterShape, strides, 1, pad);
  assertShape('Conv3DBackpropFilterV2', 'dy', dy.shape, info.outShape);
  return convolve(backend, BACKWARD_WEIGHTS, x, dy, backend.makeOutput([...filterShape], 'float32'), geometry3D(info));
}

function pool3DGeometry(info: backend_util.Conv3DInfo): Int32Array {
  return Int32Array.from([
    info.batchSize, info.inChannels,
    info.inDepth, info.inHeight, info.inWidth,
    info.effectiveFilterDepth, info.effectiveFilterHeight, info.effectiveFilterWidth,
    info.outDepth, info.outHeight, info.outWidth,
    info.strideDepth, info.strideHeight, info.strideWidth,
    info.padInfo.front, info.padInfo.top, info.padInfo.left,
  ]);
}

function maxPool3D(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs as { x: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode, dataFormat } = attrs as unknown as tf.MaxPool3DAttrs;
  if (!channelsLast(dataFormat) || x.dtype !== 'float32') return original('MaxPool3D', args);
  const info = backend_util.computePool3DInfo(x.shape as [number, number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const out = backend.makeOutput(info.outShape, 'float32');
  native().pool3d(0, heapOf(backend), Float64Array.from([offsetOf(backend, x), offsetOf(backend, out), -1]), pool3DGeometry(info));
  return out;
}

function maxPool3DGrad(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPool3DGradAttrs;
  const info = backend_util.computePool3DInfo(input.shape as [number, number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  assertShape('MaxPool3DGrad', 'dy', dy.shape, info.outShape);
  const dx = backend.makeOutput([...input.shape], 'float32');
  native().pool3d(1, heapOf(backend), Float64Array.from([offsetOf(backend, dy), offsetOf(backend, input), offsetOf(backend, dx)]), pool3DGeometry(info));
  return dx;
}

/** Sum over leading axes (a bias gradient over batch and space) in one pass; other sums: the kernel it replaced. */
function sum(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs as { x: TensorInfo };
  const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
  const axes = [...new Set(util.parseAxisParam(axis, x.shape))].sort((a, b) => a - b);
  const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i);
  if (!leading || x.dtype !== 'float32') return original('Sum', args);
  const innerShape = x.shape.slice(axes.length);
  const out = backend.makeOutput(keepDims ? [...axes.map(() => 1), ...innerShape] : innerShape, 'float32');
  native().sumLeading(heapOf(backend), offsetOf(backend, x), offsetOf(backend, out), util.sizeFromShape(x.shape.slice(0, axes.length)), util.sizeFromShape(innerShape));
  return out;
}

const KERNELS: [string, KernelFunc][] = [
  ['Conv2D', conv2D],
  ['FusedConv2D', fusedConv2D],
  ['Conv2DBackpropInput', conv2DBackpropInput],
  ['Conv2DBackpropFilter', conv2DBackpropFilter],
  ['Conv3D', conv3D],
  ['Conv3DBackpropInputV2', conv3DBackpropInputV2],
  ['Conv3DBackpropFilterV2', conv3DBackpropFilterV2],
  ['MaxPool3D', maxPool3D],
  ['MaxPool3DGrad', maxPool3DGrad],
  ['Sum', sum],
];

/**
 * Puts the native kernels in place on the (started) wasm backend, over whatever is registered there
 * now (the built-in and this project's wasm kernels, kept as fallbacks). Returns their names.
 * @throws BackendError when the addon is not available (with the reason).
 */
export function registerNativeKernels(threads: number): string[] {
  const found = loadNativeAddon();
  if (!found.available) throw new BackendError(`native kernels unavailable: ${found.reason ?? 'unknown'}`);
  setNativeThreads(threads);
  for (const [kernelName, kernelFunc] of KERNELS) {
    const current = tf.getKernel(kernelName, 'wasm');
    if (!current) throw new BackendError(`the wasm backend has no ${kernelName} kernel`);
    if (!replaced.has(kernelName)) replaced.set(kernelName, current);
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
  return KERNELS.map(([name]) => name);
}

/** Puts back the kernels {@link registerNativeKernels} replaced (the plain wasm backend again). */
export function unregisterNativeKernels(): void {
  for (const [kernelName, config] of replaced) {
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel(config);
  }
  replaced.clear();
}
