import { beforeAll, describe, expect, it } from 'vitest';
import { CASES_2D, CASES_3D, convOutSize, relativeError, runKernelOn, type KernelInput } from '../../testing/kernel-compare';
import { initBackend } from '../backend';
import { registerWasmKernels, setWasmFilterGradMethod, setWasmKernelChunkFloats } from '.';

async function compare(kernel: string, inputs: Record<string, KernelInput>, attrs: object): Promise<void> {
  const ref = await runKernelOn('cpu', kernel, inputs, attrs);
  const got = await runKernelOn('wasm', kernel, inputs, attrs);
  expect(ref.leaked).toBe(0);
  expect(got.leaked).toBe(0);
  expect(got.shape).toEqual(ref.shape);
  expect(got.values.length).toBe(ref.values.length);
  expect(relativeError(got.values, ref.values)).toBeLessThan(1e-4);
}

const outSize = convOutSize;

describe('wasm kernels', () => {
  beforeAll(async () => {
    await initBackend('wasm');
    registerWasmKernels();
  });

  it.each(CASES_2D)('Conv2DBackpropFilter matches cpu for x $x, filter $f, strides $s, $pad', async ({ x, f, s, pad }) => {
    const dy = [x[0]!, outSize(x[1]!, f[0]!, s[0], pad), outSize(x[2]!, f[1]!, s[1], pad), f[3]!];
    await compare('Conv2DBackpropFilter', { x: { shape: x, seed: 1 }, dy: { shape: dy, seed: 2 } },
      { strides: s, pad, dataFormat: 'NHWC', filterShape: f });
  });

  it.each(CASES_2D)('Conv2DBackpropInput matches cpu for x $x, filter $f, strides $s, $pad', async ({ x, f, s, pad }) => {
    const dy = [x[0]!, outSize(x[1]!, f[0]!, s[0], pad), outSize(x[2]!, f[1]!, s[1], pad), f[3]!];
    await compare('Conv2DBackpropInput', { dy: { shape: dy, seed: 3 }, filter: { shape: f, seed: 4 } },
      { strides: s, pad, dataFormat: 'NHWC', inputShape: x });
  });

  it.each(CASES_3D)('Conv3D matches cpu for x $x, filter $f, strides $s, $pad', async ({ x, f, s, pad }) => {
    await compare('Conv3D', { x: { shape: x, seed: 5 }, filter: { shape: f, seed: 6 } },
      { strides: s, pad, dataFormat: 'NDHWC', dilations: [1, 1, 1] });
  });

  it.each(CASES_3D)('Conv3DBackpropInputV2 matches cpu for x $x, filter $f, strides $s, $pad', async ({ x, f, s, pad }) => {
    const dy = [x[0]!, ...[1, 2, 3].map((i) => outSize(x[i]!, f[i - 1]!, s[i - 1]!, pad)), f[4]!];
    await compare('Conv3DBackpropInputV2', { dy: { shape: dy, seed: 7 }, filter: { shape: f, seed: 8 } },
      { strides: s, pad, inputShape: x });
  });

  it.each(CASES_3D)('Conv3DBackpropFilterV2 matches cpu for x $x, filter $f, strides $s, $pad', async ({ x, f, s, pad }) => {
    const dy = [x[0]!, ...[1, 2, 3].map((i) => outSize(x[i]!, f[i - 1]!, s[i - 1]!, pad)), f[4]!];
    await compare('Conv3DBackpropFilterV2', { x: { shape: x, seed: 9 }, dy: { shape: dy, seed: 10 } },
      { strides: s, pad, filterShape: f });
  });

  it.each([
    { a: [2, 5, 7], b: [2, 7, 3], transposeA: false, transposeB: false },
    { a: [2, 7, 5], b: [2, 7, 3], transposeA: true, transposeB: false },
    { a: [1, 5, 7], b: [1, 3, 7], transposeA: false, transposeB: true },
    { a: [3, 7, 5], b: [3, 3, 7], transposeA: true, transposeB: true },
  ])('BatchMatMul matches cpu for a $a, b $b, transposeA $transposeA, transposeB $transposeB', async ({ a, b, transposeA, transposeB }) => {
    await compare('BatchMatMul', { a: { shape: a, seed: 11 }, b: { shape: b, seed: 12 } }, { transposeA, transposeB });
  });

  it.each([
    { shapes: [[2, 3, 4, 5], [2, 3, 4, 2]], axis: 3 },
    { shapes: [[2, 3, 4], [2, 1, 4], [2, 5, 4]], axis: 1 },
    { shapes: [[3, 4], [2, 4]], axis: 0 },
    { shapes: [[2, 1, 3, 8, 8], [2, 1, 3, 8, 8]], axis: 1 },
  ])('Concat matches cpu for $shapes along axis $axis', async ({ shapes, axis }) => {
    const inputs = Object.fromEntries(shapes.map((shape, i) => [String(i), { shape, seed: 23 + i }]));
    await compare('Concat', inputs, { axis });
  });

  it.each([
    { x: [2, 3, 4, 5], splits: [1, 3, 1], axis: 3 },
    { x: [2, 6, 4, 40], splits: 3, axis: 1 },
    { x: [4, 2, 3], splits: [1, 3], axis: 0 },
  ])('SplitV matches cpu for x $x, splits $splits, axis $axis', async ({ x, splits, axis }) => {
    await compare('SplitV', { x: { shape: x, seed: 17 } }, { numOrSizeSplits: splits, axis });
  });

  it.each([
    { x: [2, 3, 4, 5, 8], perm: [1, 0, 2, 3, 4] },
    { x: [3, 4, 5, 16], perm: [2, 0, 1, 3] },
    { x: [3, 4, 5], perm: [2, 1, 0] },
    { x: [6, 40], perm: [1, 0] },
  ])('Transpose matches cpu for x $x, perm $perm', async ({ x, perm }) => {
    await compare('Transpose', { x: { shape: x, seed: 18 } }, { perm });
  });

  it.each([
    { x: [2, 3, 4, 20], dims: [1] },
    { x: [5, 3, 4], dims: [0] },
    { x: [3, 7], dims: [-1] },
    { x: [3, 4, 5], dims: [0, 2] },
  ])('Reverse matches cpu for x $x, dims $dims', async ({ x, dims }) => {
    await compare('Reverse', { x: { shape: x, seed: 19 } }, { dims });
  });

  it.each([
    { x: [4, 6, 5, 3], axis: [0, 1, 2], keepDims: false },
    { x: [4, 6, 5, 3], axis: [1, 0], keepDims: true },
    { x: [4, 6, 5], axis: [2], keepDims: false },
    { x: [4, 6, 5], axis: [0, 2], keepDims: false },
  ])('Sum matches cpu for x $x, axis $axis, keepDims $keepDims', async ({ x, axis, keepDims }) => {
    await compare('Sum', { x: { shape: x, seed: 20 } }, { axis, keepDims });
  });

  it.each([
    { x: [2, 6, 8, 7, 3], f: [2, 2, 2], s: [2, 2, 2], pad: 'valid' as const },
    { x: [1, 5, 7, 9, 2], f: [2, 2, 2], s: [2, 2, 2], pad: 'same' as const },
    // Height = width: the cpu reference indexes windows with filterHeight where it means filterWidth.
    { x: [1, 6, 7, 7, 4], f: [2, 3, 3], s: [1, 2, 2], pad: 'valid' as const },
  ])('MaxPool3DGrad matches cpu for x $x, filter $f, strides $s, $pad', async ({ x, f, s, pad }) => {
    const out = [x[0]!, ...[1, 2, 3].map((i) => (pad === 'same' ? Math.ceil(x[i]! / s[i - 1]!) : Math.ceil((x[i]! - f[i - 1]! + 1) / s[i - 1]!))), x[4]!];
    await compare('MaxPool3DGrad', { dy: { shape: out, seed: 21 }, input: { shape: x, seed: 22 } }, { filterSize: f, strides: s, pad });
  });

  it.each(CASES_2D)('Conv2DBackpropFilter by im2col matches cpu too for x $x, filter $f, strides $s, $pad', async ({ x, f, s, pad }) => {
    const dy = [x[0]!, outSize(x[1]!, f[0]!, s[0], pad), outSize(x[2]!, f[1]!, s[1], pad), f[3]!];
    setWasmFilterGradMethod('im2col');
    try {
      await compare('Conv2DBackpropFilter', { x: { shape: x, seed: 1 }, dy: { shape: dy, seed: 2 } },
        { strides: s, pad, dataFormat: 'NHWC', filterShape: f });
    } finally {
      setWasmFilterGradMethod('auto');
    }
  });

  it('splits large problems into chunks and still matches cpu', async () => {
    setWasmKernelChunkFloats(1000);
    setWasmFilterGradMethod('im2col');
    try {
      await compare('Conv2DBackpropFilter', { x: { shape: [2, 9, 11, 3], seed: 13 }, dy: { shape: [2, 9, 11, 4], seed: 14 } },
        { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 3, 4] });
      await compare('Conv2DBackpropInput', { dy: { shape: [2, 5, 4, 6], seed: 15 }, filter: { shape: [3, 2, 4, 6], seed: 16 } },
        { strides: [2, 3], pad: 'same', dataFormat: 'NHWC', inputShape: [2, 9, 11, 4] });
    } finally {
      setWasmKernelChunkFloats(16 * 1024 * 1024);
      setWasmFilterGradMethod('auto');
    }
  });
});
