import { describe, expect, it } from 'vitest';
import { CASES_2D, CASES_3D, convOutSize, relativeError, runKernelOn, type KernelInput } from '../testing/kernel-compare';
import { loadNativeAddon } from './native-kernels';

/*
 * The oneDNN kernels against the pure-JavaScript cpu backend (an independent implementation), on the
 * strides, paddings, dilations and channel counts the two networks use and on odd ones. Tolerance:
 * relative error < 1e-4 of the largest reference value (float32; oneDNN sums in another order, with
 * fused multiply-adds).
 * CI installs libdnnl-dev, so there the addon must exist: a missing one fails (FEDCT_NATIVE_REQUIRED=1
 * asks for the same elsewhere); without it on a developer machine these are skipped with the reason.
 */

const status = loadNativeAddon();
const required = process.env.CI === 'true' || process.env.FEDCT_NATIVE_REQUIRED === '1';

async function compare(kernel: string, inputs: Record<string, KernelInput>, attrs: object): Promise<void> {
  const ref = await runKernelOn('cpu', kernel, inputs, attrs);
  const got = await runKernelOn('native', kernel, inputs, attrs);
  expect(got.leaked).toBe(0);
  expect(got.shape).toEqual(ref.shape);
  expect(got.values.length).toBe(ref.values.length);
  expect(relativeError(got.values, ref.values)).toBeLessThan(1e-4);
}

describe('native kernels: availability', () => {
  it.runIf(required)('the addon is built where CI asks for it', () => {
    expect(status.reason).toBeNull();
    expect(status.available).toBe(true);
    expect(status.isa).toMatch(/^(sse41|avx|avx2|avx2_vnni|avx512_\w+)$/);
  });
});

describe.skipIf(!status.available)(`native kernels (oneDNN ${status.version ?? `unavailable: ${status.reason}`})`, () => {
  const DILATED_2D = [
    { x: [2, 12, 11, 3], f: [3, 3, 3, 4], s: [1, 1] as [number, number], pad: 'same' as const, d: [2, 2] as [number, number] },
    { x: [1, 13, 12, 2], f: [3, 2, 2, 5], s: [1, 1] as [number, number], pad: 'valid' as const, d: [2, 3] as [number, number] },
  ];

  it.each([...CASES_2D.map((c) => ({ ...c, d: [1, 1] as [number, number] })), ...DILATED_2D])('Conv2D matches cpu for x $x, filter $f, strides $s, $pad, dilations $d', async ({ x, f, s, pad, d }) => {
    await compare('Conv2D', { x: { shape: x, seed: 31 }, filter: { shape: f, seed: 32 } }, { strides: s, pad, dataFormat: 'NHWC', dilations: d });
  });

  it.each([
    { activation: 'linear', bias: true },
    { activation: 'relu', bias: true },
    { activation: 'relu', bias: false },
    { activation: 'leakyrelu', bias: true, leakyreluAlpha: 0.1 },
    { activation: 'sigmoid', bias: true },
    { activation: 'elu', bias: true },
    { activation: 'relu6', bias: true },
  ])('FusedConv2D matches cpu with $activation, bias $bias', async ({ activation, bias, leakyreluAlpha }) => {
    const inputs: Record<string, KernelInput> = { x: { shape: [2, 9, 8, 3], seed: 33 }, filter: { shape: [3, 3, 3, 5], seed: 34 } };
    if (bias) inputs.bias = { shape: [5], seed: 35 };
    await compare('FusedConv2D', inputs, { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1], activation, ...(leakyreluAlpha ? { leakyreluAlpha } : {}) });
  });

  it.each(CASES_2D)('Conv2DBackpropInput matches cpu for x $x, filter $f, strides $s, $pad', async ({ x, f, s, pad }) => {
    const dy = [x[0]!, convOutSize(x[1]!, f[0]!, s[0], pad), convOutSize(x[2]!, f[1]!, s[1], pad), f[3]!];
    await compare('Conv2DBackpropInput', { dy: { shape: dy, seed: 3 }, filter: { shape: f, seed: 4 } }, { strides: s, pad, dataFormat: 'NHWC', inputShape: x });
  });

  it.each(CASES_2D)('Conv2DBackpropFilter matches cpu for x $x, filter $f, strides $s, $pad', async ({ x, f, s, pad }) => {
    const dy = [x[0]!, convOutSize(x[1]!, f[0]!, s[0], pad), convOutSize(x[2]!, f[1]!, s[1], pad), f[3]!];
    await compare('Conv2DBackpropFilter', { x: { shape: x, seed: 1 }, dy: { shape: dy, seed: 2 } }, { strides: s, pad, dataFormat: 'NHWC', filterShape: f });
  });

  // The tiny 3-D CNN's first two layers (valid 1 → 8 channels, then same 8 → 8) and the odd cases.
  const NETWORK_3D = [
    { x: [2, 16, 32, 32, 1], f: [3, 3, 3, 1, 8], s: [1, 1, 1] as [number, number, number], pad: 'valid' as const },
    { x: [2, 14, 30, 30, 8], f: [3, 3, 3, 8, 8], s: [1, 1, 1] as [number, number, number], pad: 'same' as const },
  ];

  it.each([...CASES_3D, ...NETWORK_3D])('Conv3D matches cpu for x $x, filter $f, strides $s, $pad', async ({ x, f, s, pad }) => {
    await compare('Conv3D', { x: { shape: x, seed: 5 }, filter: { shape: f, seed: 6 } }, { strides: s, pad, dataFormat: 'NDHWC', dilations: [1, 1, 1] });
  });

  it('Conv3D with dilations matches cpu', async () => {
    await compare('Conv3D', { x: { shape: [1, 9, 8, 10, 2], seed: 36 }, filter: { shape: [3, 2, 3, 2, 3], seed: 37 } }, { strides: [1, 1, 1], pad: 'same', dataFormat: 'NDHWC', dilations: [2, 1, 2] });
  });

  it.each([...CASES_3D, ...NETWORK_3D])('Conv3DBackpropInputV2 matches cpu for x $x, filter $f, strides $s, $pad', async ({ x, f, s, pad }) => {
    const dy = [x[0]!, ...[1, 2, 3].map((i) => convOutSize(x[i]!, f[i - 1]!, s[i - 1]!, pad)), f[4]!];
    await compare('Conv3DBackpropInputV2', { dy: { shape: dy, seed: 7 }, filter: { shape: f, seed: 8 } }, { strides: s, pad, inputShape: x });
  });

  it.each([...CASES_3D, ...NETWORK_3D])('Conv3DBackpropFilterV2 matches cpu for x $x, filter $f, strides $s, $pad', async ({ x, f, s, pad }) => {
    const dy = [x[0]!, ...[1, 2, 3].map((i) => convOutSize(x[i]!, f[i - 1]!, s[i - 1]!, pad)), f[4]!];
    await compare('Conv3DBackpropFilterV2', { x: { shape: x, seed: 9 }, dy: { shape: dy, seed: 10 } }, { strides: s, pad, filterShape: f });
  });

  const POOLS = [
    { x: [2, 6, 8, 7, 3], f: [2, 2, 2], s: [2, 2, 2], pad: 'valid' as const },
    { x: [1, 5, 7, 9, 2], f: [2, 2, 2], s: [2, 2, 2], pad: 'same' as const },
    { x: [1, 6, 7, 7, 4], f: [2, 3, 3], s: [1, 2, 2], pad: 'valid' as const },
  ];

  it.each(POOLS)('MaxPool3D matches cpu for x $x, filter $f, strides $s, $pad', async ({ x, f, s, pad }) => {
    await compare('MaxPool3D', { x: { shape: x, seed: 42 } }, { filterSize: f, strides: s, pad, dataFormat: 'NDHWC' });
  });

  it.each(POOLS)('MaxPool3DGrad matches cpu for x $x, filter $f, strides $s, $pad', async ({ x, f, s, pad }) => {
    const out = [x[0]!, ...[1, 2, 3].map((i) => convOutSize(x[i]!, f[i - 1]!, s[i - 1]!, pad)), x[4]!];
    await compare('MaxPool3DGrad', { dy: { shape: out, seed: 43 }, input: { shape: x, seed: 44 } }, { filterSize: f, strides: s, pad });
  });

  it.each([
    { x: [4, 6, 5, 3], axis: [0, 1, 2], keepDims: false },
    { x: [4, 6, 5, 3], axis: [1, 0], keepDims: true },
    { x: [4, 6, 5], axis: [2], keepDims: false },
  ])('Sum matches cpu for x $x, axis $axis, keepDims $keepDims', async ({ x, axis, keepDims }) => {
    await compare('Sum', { x: { shape: x, seed: 45 } }, { axis, keepDims });
  });

  it('FusedConv2D with prelu goes to the kernel it replaced and still matches cpu', async () => {
    await compare('FusedConv2D', { x: { shape: [1, 7, 6, 2], seed: 38 }, filter: { shape: [3, 3, 2, 4], seed: 39 }, bias: { shape: [4], seed: 40 }, preluActivationWeights: { shape: [4], seed: 41 } },
      { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1], activation: 'prelu' });
  });
});
