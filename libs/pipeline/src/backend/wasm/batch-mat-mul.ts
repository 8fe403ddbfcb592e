import { BatchMatMul, type BatchMatMulAttrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { dispose, type KernelArgs } from './heap';
import { ops } from './originals';

/** BatchMatMul with transposed operands: transposes first, then the fast untransposed path. */
function batchMatMul({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
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

export const batchMatMulConfig: KernelConfig = { kernelName: BatchMatMul, backendName: 'wasm', kernelFunc: batchMatMul as unknown as KernelFunc };
