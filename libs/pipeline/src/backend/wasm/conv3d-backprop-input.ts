import { Conv3DBackpropInputV2, type Conv3DBackpropInputV2Attrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { conv2dInputGrad } from './conv2d-backprop-input';
import { filterSlice } from './depth-planes';
import { conv3DInfo, sourceDepth } from './geometry';
import { addInto, dispose, heapOf, offsetOf, type KernelArgs } from './heap';
import { reshape } from './originals';

/*
 * Conv3DBackpropInputV2: split along the filter depth into 2-D convolutions over all (batch, output depth) pairs, so
 * the 3-D op costs a few fast 2-D ops.
 */

function conv3DBackpropInputV2({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, inputShape } = attrs as unknown as Conv3DBackpropInputV2Attrs;
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

export const conv3DBackpropInputV2Config: KernelConfig = { kernelName: Conv3DBackpropInputV2, backendName: 'wasm', kernelFunc: conv3DBackpropInputV2 as unknown as KernelFunc };
