import type * as tfl from '@tensorflow/tfjs-layers';
import {
  BCDUNET_MODEL,
  CNN3D_MODEL,
  createBcduNet,
  createCnn3d,
  calibrateClassifier,
  evaluateClassifier,
  evaluateDenoiser,
  extractInfection,
  getModelBlob,
  initBackend,
  isBackendName,
  loadProfile,
  modelFromBlob,
  predictClasses,
  trainClassifier,
  trainDenoiser,
  type BcduNetConfig,
  type Cnn3dConfig,
} from '@fedct/pipeline';
import type { ModelBlob } from '@fedct/protocol';
import { SiteAgentError } from '../util/errors';
import type { Logger } from '../util/logger';
import type { BackendName, InfectionSize, LabelledVolume, SliceSet, TrainingEngine, TrainOutcome, TrainRequest } from './training-engine';

/** Network sizes used when a round starts without a global model (`baseModel: null`). */
export interface NetworkConfigs {
  bcdunet: BcduNetConfig;
  cnn3d: Cnn3dConfig;
}

export interface PipelineEngineOptions {
  /** Profile name (`tiny`, `default`, `paper`) or file: network sizes for round 1 without a global model. */
  profile: string;
  /** `auto` or a backend name. */
  backend: string;
  logger: Logger;
  /** Sizes for round 1 without a base model instead of the profile's. */
  networks?: NetworkConfigs;
  /** Slices per BCDU-Net inference batch. */
  inferenceBatch?: number;
  /** Compute threads of the native backend (default: FEDCT_THREADS, else every core). */
  threads?: number;
}

/** Depth of the classifier input when nothing else says (spec §4: 50 slices). */
export const DEFAULT_DEPTH = 50;

/** The paper's network sizes (covidctnet-spec.md §2, §5). */
export const PAPER_NETWORKS: NetworkConfigs = {
  bcdunet: { size: 128, base: 32 },
  cnn3d: { inputShape: [50, 128, 128], filters: [8, 16, 32, 64, 128], denseUnits: 32, dropout: 0.3, classes: 3 },
};

/**
 * The real networks (@fedct/pipeline) behind {@link TrainingEngine}. Models are rebuilt from the
 * configuration stored in each blob's manifest, so a site runs whatever sizes the consortium's global
 * models have; the profile (or `networks`) gives the sizes only where no model exists yet (round 1
 * from a seed) and the classifier depth when no classifier model says it.
 * One model per kind stays built between calls (a round runs the same frozen denoiser over every study).
 */
export class PipelineEngine implements TrainingEngine {
  readonly profileName: string;
  private backendInfo: Promise<{ name: BackendName; gpu: boolean; threads: number }> | null = null;
  private readonly built = new Map<string, { blob: ModelBlob; model: tfl.LayersModel }>();
  private profileNetworks: NetworkConfigs | null = null;

  constructor(private readonly options: PipelineEngineOptions) {
    this.profileName = options.profile;
  }

  backend(): Promise<{ name: BackendName; gpu: boolean; threads: number }> {
    const preference = this.options.backend;
    if (preference !== 'auto' && !isBackendName(preference)) {
      return Promise.reject(new SiteAgentError(`unknown backend "${preference}": use auto, tensorflow-gpu, tensorflow, native, wasm or cpu`, 'bad_backend'));
    }
    this.backendInfo ??= initBackend(preference, this.options.threads ? { threads: this.options.threads } : {}).then((info) => {
      for (const skipped of info.skipped) this.options.logger.debug('backend skipped', { backend: skipped.name, reason: skipped.reason });
      return { name: info.name, gpu: info.name === 'tensorflow-gpu', threads: info.threads };
    });
    return this.backendInfo;
  }

  async trainDenoiser(request: TrainRequest & { slices: SliceSet }): Promise<TrainOutcome> {
    await this.backend();
    const config = request.base ? (request.base.manifest.config as unknown as BcduNetConfig) : ((request.modelConfig as unknown as BcduNetConfig | undefined) ?? this.networks().bcdunet);
    const result = await trainDenoiser({
      config,
      data: request.slices,
      ...trainOptions(request),
    });
    return { ...result, initial: request.base ?? this.initial(BCDUNET_MODEL, config, request.initSeed) };
  }

  async evaluateDenoiser(request: { weights: ModelBlob; slices: SliceSet; seed: number }): Promise<Record<string, number>> {
    await this.backend();
    return evaluateDenoiser({ weights: request.weights, data: request.slices, seed: request.seed });
  }

  async extractInfection(request: { denoiser: ModelBlob; volume: Float32Array; shape: [number, number, number] } & InfectionSize): Promise<{ data: Float32Array; shape: [number, number, number] }> {
    await this.backend();
    return extractInfection({
      denoiser: this.model(request.denoiser, BCDUNET_MODEL),
      volume: request.volume,
      shape: request.shape,
      depth: request.depth ?? this.networks().cnn3d.inputShape[0],
      size: request.size ?? this.networks().cnn3d.inputShape[1],
      batchSize: this.options.inferenceBatch ?? 8,
    });
  }

  async trainClassifier(request: TrainRequest & { volumes: LabelledVolume[] }): Promise<TrainOutcome> {
    await this.backend();
    const config = request.base ? (request.base.manifest.config as unknown as Cnn3dConfig) : ((request.modelConfig as unknown as Cnn3dConfig | undefined) ?? this.networks().cnn3d);
    const result = await trainClassifier({
      config,
      data: request.volumes,
      ...trainOptions(request),
    });
    return { ...result, initial: request.base ?? this.initial(CNN3D_MODEL, config, request.initSeed) };
  }

  async evaluateClassifier(request: { weights: ModelBlob; volumes: LabelledVolume[] }): Promise<Record<string, number>> {
    await this.backend();
    return (await evaluateClassifier({ weights: request.weights, data: request.volumes })).flat;
  }

  async calibrateClassifier(request: { weights: ModelBlob; volumes: { data: Float32Array; shape: [number, number, number] }[] }): Promise<ModelBlob> {
    await this.backend();
    return calibrateClassifier({ weights: request.weights, volumes: request.volumes });
  }

  async classify(request: { weights: ModelBlob; volume: Float32Array; shape: [number, number, number] }): Promise<[number, number, number]> {
    await this.backend();
    const model = this.model(request.weights, CNN3D_MODEL);
    const expected = (model.inputs[0]?.shape ?? []).slice(1, 4);
    if (expected.join(',') !== request.shape.join(',')) {
      throw new SiteAgentError(`infection volume is ${request.shape.join('×')}, the classifier expects ${expected.join('×')}: the denoiser and classifier models do not belong together`, 'shape_mismatch');
    }
    const [probs] = await predictClasses(model, [{ data: request.volume, shape: request.shape }]);
    return [probs?.[0] ?? 0, probs?.[1] ?? 0, probs?.[2] ?? 0];
  }

  /** Disposes the networks kept between calls. */
  dispose(): void {
    for (const { model } of this.built.values()) model.dispose();
    this.built.clear();
  }

  private networks(): NetworkConfigs {
    this.profileNetworks ??= this.options.networks ?? (loadProfile(this.options.profile).models as NetworkConfigs);
    return this.profileNetworks;
  }

  /** The seeded initial weights training started from in round 1 (the reference for DP and norm bounds). */
  private initial(kind: string, config: BcduNetConfig | Cnn3dConfig, seed: number): ModelBlob {
    const model = kind === BCDUNET_MODEL ? createBcduNet(config as BcduNetConfig, { seed }) : createCnn3d(config as Cnn3dConfig, { seed });
    try {
      return getModelBlob(model, kind, config);
    } finally {
      model.dispose();
    }
  }

  /** The network for a blob (one kept per kind; a new blob replaces and disposes the old one). */
  private model(blob: ModelBlob, kind: string): tfl.LayersModel {
    const kept = this.built.get(kind);
    if (kept?.blob === blob) return kept.model;
    if (blob.manifest.model !== kind) throw new SiteAgentError(`model file holds a ${blob.manifest.model}, expected a ${kind}`, 'wrong_model');
    const model = modelFromBlob(blob, kind);
    kept?.model.dispose();
    this.built.set(kind, { blob, model });
    return model;
  }
}

/** The engine the CLI uses. */
export function createPipelineEngine(options: PipelineEngineOptions): PipelineEngine {
  return new PipelineEngine(options);
}

/** The task's hyper-parameters and progress callback as the pipeline's training functions take them (both phases). */
function trainOptions(request: TrainRequest) {
  return {
    initialWeights: request.base,
    initSeed: request.initSeed,
    seed: request.seed,
    epochs: request.hyper.localEpochs,
    batchSize: request.hyper.batchSize,
    learningRate: request.hyper.learningRate,
    ...(request.hyper.proximalMu !== undefined ? { proximalMu: request.hyper.proximalMu } : {}),
    ...(request.hyper.classBalanced ? { classBalanced: true } : {}),
    ...(request.hyper.flipAugment ? { flipAugment: true } : {}),
    ...(request.onProgress ? { onProgress: (p: { epoch: number; epochs: number; step: number; steps: number }) => request.onProgress?.((p.epoch - 1) * p.steps + p.step, p.epochs * p.steps) } : {}),
  };
}
