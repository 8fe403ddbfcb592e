import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { sourceDepth, type Geometry3D } from './geometry';
import { heapOf, offsetOf } from './heap';

/*
 * The 3-D convolutions run as 2-D ones along the filter depth: for each filter depth, the x planes it
 * sees over all (batch, output depth) pairs form one 2-D batch.
 */

/** The [n × od, h, w, ci] stack of x planes that filter depth `fd` sees (zeros in the padding). */
export function gatherPlanes(backend: BackendWasm, x: TensorInfo, g: Geometry3D, fd: number): TensorInfo {
  const p = g.plane;
  const planeSize = p.h * p.w * p.ci;
  const out = backend.makeOutput([p.n, p.h, p.w, p.ci], 'float32');
  const heap = heapOf(backend, out);
  const src = offsetOf(backend, x);
  const dst = offsetOf(backend, out);
  for (let b = 0; b < g.n; b++) {
    for (let od = 0; od < g.od; od++) {
      const z = sourceDepth(g, od, fd);
      const to = dst + (b * g.od + od) * planeSize;
      if (z < 0) heap.fill(0, to, to + planeSize);
      else heap.copyWithin(to, src + (b * g.d + z) * planeSize, src + (b * g.d + z + 1) * planeSize);
    }
  }
  return out;
}

/** Filter depth `fd` of a 3-D filter as a 2-D filter of `shape`. */
export function filterSlice(backend: BackendWasm, filter: TensorInfo, fd: number, sliceSize: number, shape: number[]): TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  const heap = heapOf(backend, out);
  const src = offsetOf(backend, filter) + fd * sliceSize;
  heap.copyWithin(offsetOf(backend, out), src, src + sliceSize);
  return out;
}
