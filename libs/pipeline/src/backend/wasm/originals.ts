import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from '../backend.errors';
import type { SingleKernelFunc } from './heap';

/** The wasm backend's own kernels that this project's kernels build on or fall back to. */
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

/** Whether {@link captureOriginals} ran. */
export function originalsCaptured(): boolean {
  return originals !== null;
}

/** Keeps the built-in kernels before this project's replace them (once, at registration). */
export function captureOriginals(): void {
  originals = {
    batchMatMul: originalKernel('BatchMatMul'),
    conv2d: originalKernel('Conv2D'),
    transpose: originalKernel('Transpose'),
    reshape: originalKernel('Reshape'),
    reverse: originalKernel('Reverse'),
    sum: originalKernel('Sum'),
    concat: originalKernel('Concat'),
  };
}

/** The built-in kernels captured at registration. */
export function ops(): Originals {
  if (!originals) throw new BackendError('wasm kernels used before registerWasmKernels()');
  return originals;
}

/** a · b, both untransposed (the backend's fast path). */
export function matMul(backend: BackendWasm, a: TensorInfo, b: TensorInfo): TensorInfo {
  return ops().batchMatMul({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } });
}

export function reshape(backend: BackendWasm, x: TensorInfo, shape: number[]): TensorInfo {
  return ops().reshape({ inputs: { x }, backend, attrs: { shape } });
}
