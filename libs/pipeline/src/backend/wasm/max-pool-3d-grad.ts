import { backend_util, type KernelConfig, type KernelFunc, MaxPool3DGrad, type MaxPool3DGradAttrs, type TensorInfo } from '@tensorflow/tfjs-core';
import { assertShape } from './geometry';
import { heapOf, offsetOf, type KernelArgs } from './heap';

/**
 * MaxPool3DGrad in one pass: per output voxel, the last maximum of its window (the cpu backend's
 * tie rule) receives dy. The built-in kernel was 11 % of a paper-size 3-D CNN training step.
 */
function maxPool3DGrad({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as MaxPool3DGradAttrs;
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

export const maxPool3DGradConfig: KernelConfig = { kernelName: MaxPool3DGrad, backendName: 'wasm', kernelFunc: maxPool3DGrad as unknown as KernelFunc };
