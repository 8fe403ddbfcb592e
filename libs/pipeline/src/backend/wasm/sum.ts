import { type KernelConfig, type KernelFunc, Sum, type SumAttrs, type TensorInfo, util } from '@tensorflow/tfjs-core';
import type { KernelArgs } from './heap';
import { ops } from './originals';

/**
 * Sum over leading axes (e.g. a bias gradient over batch and space) as one pass of adds; the built-in
 * kernel first transposes the reduced axes to the end, which is slow. Other reductions: built-in.
 */
function sum({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x } = inputs as { x: TensorInfo };
  const { axis, keepDims } = attrs as unknown as SumAttrs;
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

export const sumConfig: KernelConfig = { kernelName: Sum, backendName: 'wasm', kernelFunc: sum as unknown as KernelFunc };
