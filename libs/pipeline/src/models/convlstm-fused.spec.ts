import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { useFusedConvLstm } from './convlstm-fused';

describe(useFusedConvLstm.name, () => {
  beforeAll(async () => {
    await initBackend('wasm');
    useFusedConvLstm();
  });

  it('computes the same ConvLSTM2D output as the original eight-convolution step', () => {
    const layer = tfl.layers.convLstm2d({ filters: 3, kernelSize: 3, padding: 'same', goBackwards: true, returnSequences: false });
    const x = tf.randomUniform([2, 2, 6, 5, 4], -1, 1, 'float32', 1);
    const fused = layer.apply(x) as tf.Tensor;
    // A dropout rate of 1e-9 sends the cell down the original path; outside training its masks are ones.
    (layer as unknown as { cell: { dropout: number } }).cell.dropout = 1e-9;
    const original = layer.apply(x) as tf.Tensor;
    expect(fused.shape).toEqual([2, 6, 5, 3]);
    const diff = tf.max(tf.abs(tf.sub(fused, original))).dataSync()[0] ?? NaN;
    expect(diff).toBeLessThan(1e-5);
    expect(tf.max(tf.abs(original)).dataSync()[0]).toBeGreaterThan(0.01);
    tf.dispose([x, fused, original]);
  });
});
