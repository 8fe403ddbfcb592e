import { backend_util } from '@tensorflow/tfjs-core';
import { BackendError } from '../backend.errors';

export type Pad2D = 'valid' | 'same' | number | backend_util.ExplicitPadding;

/** Geometry of a 2-D convolution (channels last). */
export interface Geometry2D {
  n: number; h: number; w: number; ci: number;
  kh: number; kw: number; co: number;
  oh: number; ow: number;
  sh: number; sw: number; dh: number; dw: number;
  top: number; left: number;
}

export function assertChannelsLast(format: unknown, kernel: string): void {
  if (format !== undefined && format !== 'NHWC' && format !== 'NDHWC' && format !== 'channelsLast') {
    throw new BackendError(`${kernel} on wasm supports channels-last data only, got ${String(format)}`);
  }
}

export function assertShape(kernel: string, what: string, got: readonly number[], want: readonly number[]): void {
  if (got.length !== want.length || got.some((v, i) => v !== want[i])) {
    throw new BackendError(`${kernel}: ${what} has shape [${got.join(', ')}], expected [${want.join(', ')}]`);
  }
}

export function geometry2D(info: backend_util.Conv2DInfo): Geometry2D {
  return {
    n: info.batchSize, h: info.inHeight, w: info.inWidth, ci: info.inChannels,
    kh: info.filterHeight, kw: info.filterWidth, co: info.outChannels,
    oh: info.outHeight, ow: info.outWidth,
    sh: info.strideHeight, sw: info.strideWidth, dh: info.dilationHeight, dw: info.dilationWidth,
    top: info.padInfo.top, left: info.padInfo.left,
  };
}

/** Geometry of a 3-D convolution split into 2-D ones along the filter depth. */
export interface Geometry3D {
  n: number; d: number; od: number; sd: number; dd: number; front: number; kd: number;
  plane: Geometry2D; // the 2-D problem for one filter depth, batch = n × od
}

function geometry3D(info: backend_util.Conv3DInfo, kernel: string, dyShape?: readonly number[]): Geometry3D {
  if (dyShape) assertShape(kernel, 'dy', dyShape, info.outShape);
  return {
    n: info.batchSize, d: info.inDepth, od: info.outDepth, sd: info.strideDepth, dd: info.dilationDepth,
    front: info.padInfo.front, kd: info.filterDepth,
    plane: {
      n: info.batchSize * info.outDepth, h: info.inHeight, w: info.inWidth, ci: info.inChannels,
      kh: info.filterHeight, kw: info.filterWidth, co: info.outChannels,
      oh: info.outHeight, ow: info.outWidth,
      sh: info.strideHeight, sw: info.strideWidth, dh: info.dilationHeight, dw: info.dilationWidth,
      top: info.padInfo.top, left: info.padInfo.left,
    },
  };
}

/** The geometry of a 3-D convolution from its kernel attributes (checks dy's shape when given). */
export function conv3DInfo(
  kernel: string, xShape: number[], filterShape: number[], strides: unknown, pad: unknown, dilations: unknown, dyShape?: number[],
): Geometry3D {
  return geometry3D(backend_util.computeConv3DInfo(
    xShape as [number, number, number, number, number],
    filterShape as [number, number, number, number, number],
    strides as [number, number, number], (dilations ?? 1) as [number, number, number], pad as 'same' | 'valid'),
    kernel, dyShape);
}

/** x depth index read by output depth `od` at filter depth `fd`, or -1 in the padding. */
export function sourceDepth(g: Geometry3D, od: number, fd: number): number {
  const z = od * g.sd + fd * g.dd - g.front;
  return z >= 0 && z < g.d ? z : -1;
}
