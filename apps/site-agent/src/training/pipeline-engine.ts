import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  BCDUNET_MODEL,
  CNN3D_MODEL,
  createBcduNet,
  createCnn3d,
  initBackend,
  isBackendName,
  resizeDepth,
  setModelWeights,
  type BcduNetConfig,
  type Cnn3dConfig,
} from '@fedct/pipeline';
import type { ModelBlob } from '@fedct/protocol';
import { SiteAgentError } from '../util/errors';
import type { Logger } from '../util/logger';
import type { BackendName, LabelledVolume, SliceSet, TrainingEngine, TrainOutcome, TrainRequest } from './training-engine';

export interface PipelineEngineOptions {
  /** Profile name or file (sizes and training settings of the networks). */
  profile: string;
  /** `auto` or a backend name. */
  backend: string;
  logger: Logger;
  /** Slices per BCDU-Net inference batch. */
  inferenceBatch?: number;
}

/** Depth of the classifier input when nothing else says (spec §4: 50 slices). */
export const DEFAULT_DEPTH = 50;

/**
 * The real networks (@fedct/pipeline) behind {@link TrainingEngine}. Models are rebuilt from the
 * configuration stored in each blob's manifest, so a site runs whatever sizes the consortium's global
 * models have; the profile gives sizes and settings only where no model exists yet (round 1).
 */
export class PipelineEngine implements TrainingEngine {
  readonly profileName: string;
  private backendInfo: Promise<{ name: BackendName; gpu: boolean; threads: number }> | null = null;
  private readonly models = new WeakMap<ModelBlob, tfl.LayersModel>();

  constructor(private readonly options: PipelineEngineOptions) {
    this.profileName = options.profile;
  }

  backend(): Promise<{ name: BackendName; gpu: boolean; threads: number }> {
    const preference = this.options.backend;
    if (preference !== 'auto' && !isBackendName(preference)) {
      return Promise.reject(new SiteAgentError(`unknown backend "${preference}": use auto, tensorflow-gpu, tensorflow, wasm or cpu`, 'bad_backend'));
    }
    this.backendInfo ??= initBackend(preference).then((info) => {
      for (const skipped of info.skipped) this.options.logger.debug('backend skipped', { backend: skipped.name, reason: skipped.reason });
      return { name: info.name, gpu: info.name === 'tensorflow-gpu', threads: info.threads };
    });
    return this.backendInfo;
  }

  async extractInfection(request: { denoiser: ModelBlob; volume: Float32Array; shape: [number, number, number]; depth?: number }): Promise<{ data: Float32Array; shape: [number, number, number] }> {
    await this.backend();
    const model = this.model(request.denoiser, BCDUNET_MODEL);
    const config = request.denoiser.manifest.config as unknown as BcduNetConfig;
    const [z, h, w] = request.shape;
    const size = config.size;
    const batch = this.options.inferenceBatch ?? 8;
    const residual = new Float32Array(z * size * size);
    for (let start = 0; start < z; start += batch) {
      const n = Math.min(batch, z - start);
      const values = tf.tidy(() => {
        let x: tf.Tensor4D = tf.tensor4d(request.volume.subarray(start * h * w, (start + n) * h * w), [n, h, w, 1]);
        x = resizeSlices(x, size);
        const y = model.predict(x) as tf.Tensor4D;
        return tf.sub(x, y);
      });
      residual.set(await values.data(), start * size * size);
      values.dispose();
    }
    const depth = request.depth ?? DEFAULT_DEPTH;
    return { data: resizeDepth({ data: residual, shape: [z, size, size] }, depth), shape: [depth, size, size] };
  }

  async classify(request: { weights: ModelBlob; volume: Float32Array; shape: [number, number, number] }): Promise<[number, number, number]> {
    await this.backend();
    const model = this.model(request.weights, CNN3D_MODEL);
    const config = request.weights.manifest.config as unknown as Cnn3dConfig;
    if (config.inputShape.join(',') !== request.shape.join(',')) {
      throw new SiteAgentError(`infection volume is ${request.shape.join('×')}, the classifier expects ${config.inputShape.join('×')}: the denoiser and classifier models do not belong together`, 'shape_mismatch');
    }
    const out = tf.tidy(() => model.predict(tf.tensor5d(request.volume, [1, ...request.shape, 1])) as tf.Tensor);
    const probs = await out.data();
    out.dispose();
    return [probs[0] ?? 0, probs[1] ?? 0, probs[2] ?? 0];
  }

  trainDenoiser(_request: TrainRequest & { slices: SliceSet }): Promise<TrainOutcome> {
    return Promise.reject(new SiteAgentError('denoiser training needs @fedct/pipeline trainDenoiser (not available in this build)', 'not_available'));
  }

  evaluateDenoiser(_request: { weights: ModelBlob; slices: SliceSet; seed: number }): Promise<Record<string, number>> {
    return Promise.resolve({});
  }

  trainClassifier(_request: TrainRequest & { volumes: LabelledVolume[] }): Promise<TrainOutcome> {
    return Promise.reject(new SiteAgentError('classifier training needs @fedct/pipeline trainClassifier (not available in this build)', 'not_available'));
  }

  evaluateClassifier(_request: { weights: ModelBlob; volumes: LabelledVolume[] }): Promise<Record<string, number>> {
    return Promise.resolve({});
  }

  /** The network for a blob, built from the blob's own configuration (cached per blob). */
  private model(blob: ModelBlob, kind: string): tfl.LayersModel {
    const cached = this.models.get(blob);
    if (cached) return cached;
    if (blob.manifest.model !== kind) throw new SiteAgentError(`model file holds a ${blob.manifest.model}, expected a ${kind}`, 'wrong_model');
    const model = kind === BCDUNET_MODEL ? createBcduNet(blob.manifest.config as unknown as BcduNetConfig) : createCnn3d(blob.manifest.config as unknown as Cnn3dConfig);
    setModelWeights(model, blob, kind);
    this.models.set(blob, model);
    return model;
  }
}

/**
 * Slices (n, h, w, 1) to (n, size, size, 1): a block mean when `h` is a multiple of `size` (exact
 * anti-aliasing for the tiny and default profiles), bilinear otherwise.
 */
export function resizeSlices(x: tf.Tensor4D, size: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  if (h === size && w === size) return x;
  if (h % size === 0 && w % size === 0) return tf.avgPool(x, [h / size, w / size], [h / size, w / size], 'valid');
  return tf.image.resizeBilinear(x, [size, size]);
}

/** The engine the CLI uses. */
export function createPipelineEngine(options: PipelineEngineOptions): TrainingEngine {
  return new PipelineEngine(options);
}
