import * as tfl from '@tensorflow/tfjs-layers';
import { mulberry32, withSeededRandom } from '../random';
import { useFusedConvLstm } from './convlstm-fused';
import { ModelError } from './models.errors';
import { quietly } from './quietly';

/** Size parameters of BCDU-Net D3 (`covidctnet-spec.md` §2). Paper: `{ size: 128, base: 32 }`. */
export interface BcduNetConfig {
  /** Input height = width in pixels; a multiple of 8. */
  size: number;
  /** Width of the first encoder block (paper 32); even. Later blocks use 2×, 4× and 8× it. */
  base: number;
  /** Dropout rate of the skip and bottleneck dropouts (paper 0.5). */
  dropout?: number;
}

/** The model name used in weight blobs. */
export const BCDUNET_MODEL = 'bcdunet';

function validate(cfg: BcduNetConfig): void {
  if (!Number.isInteger(cfg.size) || cfg.size < 8 || cfg.size % 8 !== 0) {
    throw new ModelError(`BCDU-Net size must be a positive multiple of 8, got ${cfg.size}`);
  }
  if (!Number.isInteger(cfg.base) || cfg.base < 2 || cfg.base % 2 !== 0) {
    throw new ModelError(`BCDU-Net base width must be an even integer >= 2, got ${cfg.base}`);
  }
  const rate = cfg.dropout ?? 0.5;
  if (!(rate >= 0 && rate < 1)) throw new ModelError(`BCDU-Net dropout must be in [0, 1), got ${rate}`);
}

/**
 * Builds BCDU-Net D3 exactly as the CovidCTNet code: 3 × 3 'same' ReLU convs (he_normal), a densely
 * connected bottleneck, and decoder steps Conv2DTranspose → BatchNorm → ReLU → ConvLSTM2D over
 * [skip, up] (go_backwards, final state only). Input [size, size, 1], output a sigmoid map of the same
 * size. At `{ size: 128, base: 32 }` it has 5,167,365 parameters.
 * Initial weights come from `options.seed` (default 0): the same seed gives the same weights.
 * @throws ModelError when the configuration is invalid.
 */
export function createBcduNet(cfg: BcduNetConfig, options: { seed?: number } = {}): tfl.LayersModel {
  validate(cfg);
  useFusedConvLstm();
  const rng = mulberry32(options.seed ?? 0);
  return quietly(() => withSeededRandom(rng, () => build(cfg)));
}

function build(cfg: BcduNetConfig): tfl.LayersModel {
  const { size, base: b } = cfg;
  const rate = cfg.dropout ?? 0.5;
  const conv = (filters: number, name: string) =>
    tfl.layers.conv2d({ filters, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: 'heNormal', name });
  const apply = (layer: tfl.layers.Layer, x: tfl.SymbolicTensor | tfl.SymbolicTensor[]) => layer.apply(x) as tfl.SymbolicTensor;

  const input = tfl.input({ shape: [size, size, 1], name: 'slice' });
  const c1 = apply(conv(b, 'conv1_2'), apply(conv(b, 'conv1_1'), input));
  const p1 = apply(tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }), c1);
  const c2 = apply(conv(2 * b, 'conv2_2'), apply(conv(2 * b, 'conv2_1'), p1));
  const p2 = apply(tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }), c2);
  const c3 = apply(conv(4 * b, 'conv3_2'), apply(conv(4 * b, 'conv3_1'), p2));
  const drop3 = apply(tfl.layers.dropout({ rate, name: 'drop3' }), c3);
  const p3 = apply(tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool3' }), c3);

  // Densely connected bottleneck: D1, D2 on D1, D3 on concat(D2, D1).
  const d1 = apply(tfl.layers.dropout({ rate, name: 'drop4_1' }), apply(conv(8 * b, 'conv4_1b'), apply(conv(8 * b, 'conv4_1a'), p3)));
  const d2 = apply(tfl.layers.dropout({ rate, name: 'drop4_2' }), apply(conv(8 * b, 'conv4_2b'), apply(conv(8 * b, 'conv4_2a'), d1)));
  const dense = apply(tfl.layers.concatenate({ axis: 3, name: 'merge_dense' }), [d2, d1]);
  const d3 = apply(tfl.layers.dropout({ rate, name: 'drop4_3' }), apply(conv(8 * b, 'conv4_3b'), apply(conv(8 * b, 'conv4_3a'), dense)));

  const decoder = (x: tfl.SymbolicTensor, skip: tfl.SymbolicTensor, level: number, upFilters: number, lstmFilters: number) => {
    const s = size >> level;
    let up = apply(tfl.layers.conv2dTranspose({
      filters: upFilters, kernelSize: 2, strides: 2, padding: 'same', kernelInitializer: 'heNormal', name: `up${level}`,
    }), x);
    up = apply(tfl.layers.batchNormalization({ axis: 3, name: `up${level}_bn` }), up);
    up = apply(tfl.layers.activation({ activation: 'relu', name: `up${level}_relu` }), up);
    const x1 = apply(tfl.layers.reshape({ targetShape: [1, s, s, upFilters], name: `skip${level}_seq` }), skip);
    const x2 = apply(tfl.layers.reshape({ targetShape: [1, s, s, upFilters], name: `up${level}_seq` }), up);
    const seq = apply(tfl.layers.concatenate({ axis: 1, name: `merge${level}` }), [x1, x2]);
    const lstm = apply(tfl.layers.convLstm2d({
      filters: lstmFilters, kernelSize: 3, padding: 'same', returnSequences: false, goBackwards: true,
      kernelInitializer: 'heNormal', name: `convlstm${level}`,
    }), seq);
    return apply(conv(upFilters, `conv${level}_b`), apply(conv(upFilters, `conv${level}_a`), lstm));
  };
  const u6 = decoder(d3, drop3, 2, 4 * b, 2 * b);
  const u7 = decoder(u6, c2, 1, 2 * b, b);
  const u8 = decoder(u7, c1, 0, b, b / 2);
  const head = apply(conv(2, 'head_conv'), u8);
  const output = apply(tfl.layers.conv2d({ filters: 1, kernelSize: 1, activation: 'sigmoid', name: 'denoised' }), head);
  return tfl.model({ inputs: input, outputs: output, name: BCDUNET_MODEL });
}
