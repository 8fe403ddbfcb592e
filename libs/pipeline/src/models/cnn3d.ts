import * as tfl from '@tensorflow/tfjs-layers';
import type { ModelBlob } from '@fedct/protocol';
import { mulberry32, withSeededRandom } from '../random';
import { channelBatchNorm } from './batch-norm';
import { groupNorm } from './group-norm';
import { ModelError } from './models.errors';
import { quietly } from './quietly';

/** Size parameters of the 3-D CNN classifier (`covidctnet-spec.md` §5). */
export interface Cnn3dConfig {
  /** Input depth (slices), height, width. Paper: [50, 128, 128]. */
  inputShape: [number, number, number];
  /** Filters of each two-conv stage, each followed by a 2 × 2 × 2 max pool. Paper: [8, 16, 32, 64, 128]. */
  filters: number[];
  /** Units of the hidden dense layer (paper 32). */
  denseUnits: number;
  /** Dropout before the output layer (paper 0.3). */
  dropout: number;
  /** Output classes (3: Control, Covid-19, CAP). */
  classes: number;
  /**
   * Not in the paper (default off): batch normalisation between each convolution and its activation
   * (the convolutions then have no bias). Not on the dense layer: with 2-4 studies per batch and
   * thread its batch statistics turn each unit into a ranking within the batch.
   */
  batchNorm?: boolean;
  /**
   * Not in the paper (default off): group normalisation with this many channel groups after each
   * convolution instead of BatchNorm (each study normalised on its own). Federated, BatchNorm learns
   * under one hospital's (one scanner's) batch statistics and is evaluated with statistics averaged
   * over hospitals; docs/research/demo-tuning-2026-11-27.md "Fifth session" measured what that costs. Must divide every
   * stage's filters; excludes `batchNorm`.
   */
  groupNorm?: number;
  /**
   * Not in the paper (default 0 = ReLU): leaky ReLU slope for negative inputs, so units cannot die.
   * At 64² and lr 1e-3 the plain network's dense ReLUs die within an epoch (1-2 of 32 still fire)
   * and the loss stays at ln 3.
   */
  leakyRelu?: number;
  /**
   * Input channels (default 1: the infection map, as in the paper). 2 (not in the paper): the infection
   * map and the preprocessed CT it was extracted from, channels last. At 64² the denoiser keeps CAP's
   * dense consolidations as anatomy, so the infection map alone hardly tells CAP from Control
   * (docs/research/demo-tuning-2026-11-27.md, "Fifth session").
   */
  inputChannels?: number;
}

/** The model name used in weight blobs. */
export const CNN3D_MODEL = 'cnn3d';

/** The size of infection maps a 3-D CNN reads: slices (depth), and their height and width (square). */
export interface InfectionSize {
  depth?: number;
  size?: number;
}

/**
 * The infection map size a 3-D CNN configuration names (`inputShape`: depth, then the slices' size),
 * or undefined when it names none (e.g. a task's `modelConfig` for another network).
 */
export function cnn3dInputSize(config: Record<string, unknown>): InfectionSize | undefined {
  const inputShape = config.inputShape;
  if (!Array.isArray(inputShape) || typeof inputShape[0] !== 'number') return undefined;
  return { depth: inputShape[0], ...(typeof inputShape[1] === 'number' ? { size: inputShape[1] } : {}) };
}

/** The infection map size a classifier model blob was built for (its manifest config), if it says. */
export function classifierInputSize(blob: ModelBlob): InfectionSize | undefined {
  return cnn3dInputSize(blob.manifest.config);
}

/** Spatial size after the stages: valid conv (-2), then a floor-halving pool per stage. */
function finalShape(cfg: Cnn3dConfig): number[] {
  return cfg.inputShape.map((n) => cfg.filters.reduce((m) => Math.floor(m / 2), n - 2));
}

function validate(cfg: Cnn3dConfig): void {
  if (cfg.inputShape.length !== 3 || cfg.inputShape.some((n) => !Number.isInteger(n) || n < 3)) {
    throw new ModelError(`3-D CNN input shape must be three integers >= 3, got [${cfg.inputShape.join(', ')}]`);
  }
  if (cfg.inputChannels !== undefined && !(Number.isInteger(cfg.inputChannels) && cfg.inputChannels >= 1 && cfg.inputChannels <= 8)) {
    throw new ModelError(`inputChannels must be an integer from 1 to 8, got ${cfg.inputChannels}`);
  }
  if (cfg.groupNorm !== undefined) {
    if (!Number.isInteger(cfg.groupNorm) || cfg.groupNorm < 1) throw new ModelError(`groupNorm must be a positive integer (groups), got ${cfg.groupNorm}`);
    if (cfg.batchNorm) throw new ModelError('batchNorm and groupNorm exclude each other');
    const odd = cfg.filters.find((f) => f % (cfg.groupNorm ?? 1) !== 0);
    if (odd !== undefined) throw new ModelError(`groupNorm ${cfg.groupNorm} does not divide ${odd} filters`);
  }
  if (cfg.leakyRelu !== undefined && !(cfg.leakyRelu >= 0 && cfg.leakyRelu < 1)) throw new ModelError(`leakyRelu must be in [0, 1), got ${cfg.leakyRelu}`);
  if (cfg.filters.length === 0 || cfg.filters.some((f) => !Number.isInteger(f) || f < 1)) {
    throw new ModelError(`3-D CNN filters must be positive integers, got [${cfg.filters.join(', ')}]`);
  }
  if (finalShape(cfg).some((n) => n < 1)) {
    throw new ModelError(
      `3-D CNN input [${cfg.inputShape.join(', ')}] is too small for ${cfg.filters.length} pooling stages`);
  }
  if (!Number.isInteger(cfg.denseUnits) || cfg.denseUnits < 1) throw new ModelError(`denseUnits must be >= 1, got ${cfg.denseUnits}`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new ModelError(`dropout must be in [0, 1), got ${cfg.dropout}`);
  if (!Number.isInteger(cfg.classes) || cfg.classes < 2) throw new ModelError(`classes must be >= 2, got ${cfg.classes}`);
}

/**
 * Builds the CovidCTNet 3-D CNN: per stage two 3 × 3 × 3 ReLU convs (he_uniform; the very first one
 * 'valid', the rest 'same') and a 2 × 2 × 2 max pool; then flatten → dense ReLU → dropout → dense
 * softmax. Input [depth, height, width, channels] (channels 1 unless `inputChannels` says otherwise). At the paper sizes it has 920,715 parameters.
 * Initial weights come from `options.seed` (default 0): the same seed gives the same weights.
 * @throws ModelError when the configuration is invalid.
 */
export function createCnn3d(cfg: Cnn3dConfig, options: { seed?: number } = {}): tfl.LayersModel {
  validate(cfg);
  const rng = mulberry32(options.seed ?? 0);
  return quietly(() => withSeededRandom(rng, () => build(cfg)));
}

/**
 * Moving-average momentum of the optional BatchNorm layers. Keras' 0.99 lags far behind weights that
 * Adam moves at lr 1e-3 over a few dozen steps per round: evaluated with those statistics the network
 * put every study in one class while it classified them well with batch statistics.
 */
const BN_MOMENTUM = 0.9;

function build(cfg: Cnn3dConfig): tfl.LayersModel {
  const model = tfl.sequential({ name: CNN3D_MODEL });
  const alpha = cfg.leakyRelu ?? 0;
  const normalised = Boolean(cfg.batchNorm) || (cfg.groupNorm ?? 0) > 0;
  const plain = !normalised && alpha === 0;
  const activate = (name: string): void => {
    model.add(alpha > 0 ? tfl.layers.leakyReLU({ alpha, name: `${name}_act` }) : tfl.layers.activation({ activation: 'relu', name: `${name}_act` }));
  };
  cfg.filters.forEach((filters, stage) => {
    for (let i = 0; i < 2; i++) {
      const first = stage === 0 && i === 0;
      const name = `conv${stage + 1}_${i + 1}`;
      model.add(tfl.layers.conv3d({
        filters, kernelSize: 3, padding: first ? 'valid' : 'same', activation: plain ? 'relu' : 'linear', kernelInitializer: 'heUniform',
        useBias: !normalised, name,
        ...(first ? { inputShape: [...cfg.inputShape, cfg.inputChannels ?? 1] } : {}),
      }));
      if (cfg.batchNorm) model.add(channelBatchNorm({ momentum: BN_MOMENTUM, name: `${name}_bn` }));
      if (cfg.groupNorm) model.add(groupNorm({ groups: cfg.groupNorm, name: `${name}_gn` }));
      if (!plain) activate(name);
    }
    model.add(tfl.layers.maxPooling3d({ poolSize: 2, name: `pool${stage + 1}` }));
  });
  model.add(tfl.layers.flatten({ name: 'flatten' }));
  model.add(tfl.layers.dense({ units: cfg.denseUnits, activation: plain ? 'relu' : 'linear', name: 'dense' }));
  if (!plain) activate('dense');
  model.add(tfl.layers.dropout({ rate: cfg.dropout, name: 'dropout' }));
  model.add(tfl.layers.dense({ units: cfg.classes, activation: 'softmax', name: 'probabilities' }));
  return model;
}
