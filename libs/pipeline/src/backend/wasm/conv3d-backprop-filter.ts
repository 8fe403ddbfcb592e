import { Conv3DBackpropFilterV2, type Conv3DBackpropFilterV2Attrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { conv2dFilterGrad } from './conv2d-backprop-filter';
import { gatherPlanes } from './depth-planes';
import { conv3DInfo } from './geometry';
import { dispose, heapOf, offsetOf, type KernelArgs } from './heap';
import { reshape } from './originals';

/*
 * Conv3DBackpropFilterV2: split along the filter depth into 2-D convolutions over all (batch, output depth) pairs, so
 * the 3-D op costs a few fast 2-D ops.
 */

function conv3DBackpropFilterV2({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, filterShape } = attrs as unknown as Conv3DBackpropFilterV2Attrs;
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

export const conv3DBackpropFilterV2Config: KernelConfig = { kernelName: Conv3DBackpropFilterV2, backendName: 'wasm', kernelFunc: conv3DBackpropFilterV2 as unknown as KernelFunc };
