import { Conv3D, type Conv3DAttrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { BackendError } from '../backend.errors';
import { filterSlice, gatherPlanes } from './depth-planes';
import { assertChannelsLast, conv3DInfo } from './geometry';
import { addInto, dispose, heapOf, offsetOf, type KernelArgs } from './heap';
import { ops, reshape } from './originals';

/*
 * Conv3D: split along the filter depth into 2-D convolutions over all (batch, output depth) pairs, so
 * the 3-D op costs a few fast 2-D ops.
 */

function conv3D({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dilations } = attrs as unknown as Conv3DAttrs;
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

export const conv3DConfig: KernelConfig = { kernelName: Conv3D, backendName: 'wasm', kernelFunc: conv3D as unknown as KernelFunc };
