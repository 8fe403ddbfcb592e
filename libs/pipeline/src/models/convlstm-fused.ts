import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** The fields of tfjs-layers' ConvLSTM2DCell that the fused step reads. */
interface ConvLstmCell {
  dropout: number;
  recurrentDropout: number;
  strides: number | number[];
  padding: string;
  dataFormat: string;
  dilationRate: number | number[];
  useBias: boolean;
  kernel: tfl.LayerVariable;
  recurrentKernel: tfl.LayerVariable;
  bias: tfl.LayerVariable | null;
  activation: { apply(x: tf.Tensor): tf.Tensor };
  recurrentActivation: { apply(x: tf.Tensor): tf.Tensor };
  call(inputs: tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor[];
}

let patched = false;

function isOne(v: number | number[]): boolean {
  return Array.isArray(v) ? v.every((x) => x === 1) : v === 1;
}

/**
 * Makes every ConvLSTM2D step run ONE convolution instead of eight: tfjs-layers convolves the input
 * and the previous state separately for each of the four gates; for stride 1, 'same' padding, no
 * dilation and no dropout, conv(concat(x, h), concat(W, U)) + b computes the same gate
 * pre-activations (same weights, same maths), with a quarter of the passes over the data and one
 * filter gradient per step. Other configurations keep the original code. Idempotent.
 */
export function useFusedConvLstm(): void {
  if (patched) return;
  patched = true;
  const probe = tfl.layers.convLstm2d({ filters: 1, kernelSize: 1 }) as unknown as { cell: ConvLstmCell };
  const proto = Object.getPrototypeOf(probe.cell) as ConvLstmCell;
  const original = proto.call;
  proto.call = function fusedCall(this: ConvLstmCell, inputs: tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor[] {
    const fusable = inputs.length === 3 && this.dropout === 0 && this.recurrentDropout === 0 && this.padding === 'same'
      && this.dataFormat === 'channelsLast' && isOne(this.strides) && isOne(this.dilationRate);
    if (!fusable) return original.call(this, inputs, kwargs);
    return tf.tidy(() => {
      const [x, hPrev, cPrev] = inputs as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      const xh = tf.concat([x, hPrev], 3);
      const w = tf.concat([this.kernel.read() as tf.Tensor4D, this.recurrentKernel.read() as tf.Tensor4D], 2);
      let z: tf.Tensor4D = tf.conv2d(xh, w, 1, 'same');
      if (this.useBias && this.bias) z = tf.add(z, this.bias.read());
      const [zi, zf, zc, zo] = tf.split(z, 4, 3) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
      const i = this.recurrentActivation.apply(zi);
      const f = this.recurrentActivation.apply(zf);
      const c = tf.add(tf.mul(f, cPrev), tf.mul(i, this.activation.apply(zc)));
      const h = tf.mul(this.recurrentActivation.apply(zo), this.activation.apply(c));
      return [h, h, c];
    });
  };
}
