import type * as tfl from '@tensorflow/tfjs-layers';

function dims(shape: tfl.Shape | tfl.Shape[]): number[] {
  const s = (Array.isArray(shape[0]) ? shape[0] : shape) as (number | null)[];
  return s.slice(1).map((d) => d ?? 1);
}

function prod(values: number[]): number {
  return values.reduce((a, b) => a * b, 1);
}

function kernelSize(layer: tfl.layers.Layer): number {
  const config = layer.getConfig() as { kernelSize?: number | number[] };
  const k = config.kernelSize ?? 1;
  return Array.isArray(k) ? prod(k) : k;
}

/**
 * Floating-point operations (2 per multiply-add) of one forward pass for one example, counting
 * convolutions, transposed convolutions, ConvLSTM gates and dense layers (elementwise ops ignored).
 * BCDU-Net at 128 × 128, base 32: ≈ 10.2 GFLOP; the 3-D CNN at 50 × 128 × 128: ≈ 6.5 GFLOP.
 */
export function forwardFlops(model: tfl.LayersModel): number {
  let flops = 0;
  for (const layer of model.layers) {
    const name = layer.getClassName();
    if (!['Conv2D', 'Conv3D', 'Conv2DTranspose', 'ConvLSTM2D', 'Dense'].includes(name)) continue;
    const out = dims(layer.outputShape);
    const input = dims((layer.input as tfl.SymbolicTensor).shape);
    const cout = out[out.length - 1] ?? 1;
    const cin = input[input.length - 1] ?? 1;
    if (name === 'Conv2D' || name === 'Conv3D') {
      flops += 2 * prod(out.slice(0, -1)) * kernelSize(layer) * cin * cout;
    } else if (name === 'Conv2DTranspose') {
      // Each input pixel scatters a k × k × cout patch.
      flops += 2 * prod(input.slice(0, -1)) * kernelSize(layer) * cin * cout;
    } else if (name === 'ConvLSTM2D') {
      const steps = input[0] ?? 1;
      const pixels = prod(out.slice(0, -1));
      flops += steps * 2 * pixels * kernelSize(layer) * (cin + cout) * 4 * cout;
    } else if (name === 'Dense') {
      flops += 2 * cin * cout;
    }
  }
  return flops;
}
