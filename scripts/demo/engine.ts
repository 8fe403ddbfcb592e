import { CNN3D_MODEL, calibrateClassifier, evaluateClassifier, trainClassifier, type Cnn3dConfig, type LabelledVolume, type TrainProgress } from '@fedct/pipeline';
import type { ModelBlob } from '@fedct/protocol';
import { PipelineEngine, SiteFolder, infectionVolumes, silentLogger, type InfectionSize } from '@fedct/site-agent';
import { DemoError } from './errors';

/** An infection volume (spec §4) at the classifier's input size. */
export interface InfectionVolume {
  data: Float32Array;
  shape: [number, number, number];
}

/** What the pipeline's evaluation gives: its §6 metrics and the probabilities behind them. */
export interface Evaluation {
  metrics: Awaited<ReturnType<typeof evaluateClassifier>>['metrics'];
  probabilities: number[][];
}

/** What the demo needs from @fedct/pipeline for the in-process parts (evaluation, baselines). */
export interface DemoEngine {
  /** The compute backend in use. */
  readonly backend: string;
  /** [depth, height, width] the classifier expects. */
  classifierInputShape(classifier: ModelBlob): [number, number, number];
  /** Residual x − BCDUNet(x) of a model-ready volume, resized to the classifier's input (as the sites compute it). */
  extractInfection(denoiser: ModelBlob, volume: { data: Float32Array; shape: [number, number, number] }, input: InfectionSize): Promise<InfectionVolume>;
  /**
   * A site's own labelled infection volumes of one split for a denoiser, read from the site folder's
   * cache (the very volumes its daemon trained on) or computed and cached as the daemon would.
   */
  siteVolumes(siteDir: string, denoiser: { blob: ModelBlob; sha256: string }, split: 'train' | 'val', input: InfectionSize): Promise<LabelledVolume[]>;
  /** Every §6 metric of a classifier on labelled infection volumes. */
  evaluate(classifier: ModelBlob, volumes: readonly LabelledVolume[]): Promise<Evaluation>;
  /** The classifier with BatchNorm statistics from these unlabeled volumes (site-local statistics). */
  calibrate(classifier: ModelBlob, volumes: readonly InfectionVolume[]): Promise<ModelBlob>;
  /**
   * Trains a classifier with the federated model's sizes, from `initialWeights` or else from the seeded
   * initial weights (as a site's first round does).
   */
  trainClassifier(request: { like: ModelBlob; initialWeights?: ModelBlob | null; initSeed: number; seed: number; volumes: readonly LabelledVolume[]; epochs: number; batchSize: number; learningRate: number; classBalanced: boolean; flipAugment: boolean; workers?: number; onEpoch?: (epoch: number, epochs: number, loss: number) => void }): Promise<ModelBlob>;
  /** Frees the cached networks. */
  dispose(): void;
}

function cnnConfig(blob: ModelBlob): Cnn3dConfig {
  if (blob.manifest.model !== CNN3D_MODEL) throw new DemoError(`expected a ${CNN3D_MODEL} model, got ${blob.manifest.model}`);
  return blob.manifest.config as unknown as Cnn3dConfig;
}

/**
 * The engine: infection volumes exactly as the sites compute them (@fedct/site-agent's
 * `PipelineEngine` and `infectionVolumes`, so train and test data come from the same code), and
 * @fedct/pipeline's `evaluateClassifier` and `trainClassifier`. Networks are rebuilt from the sizes
 * stored in each published blob. `FEDCT_BACKEND` picks a backend as for the sites.
 */
export async function createDemoEngine(options: { threads?: number } = {}): Promise<DemoEngine> {
  const site = new PipelineEngine({ profile: 'demo', backend: 'auto', logger: silentLogger, ...(options.threads ? { threads: options.threads } : {}) });
  const info = await site.backend();
  return {
    backend: info.name,
    classifierInputShape: (classifier) => {
      const [d, h, w] = cnnConfig(classifier).inputShape;
      return [d, h, w];
    },
    extractInfection: (denoiser, volume, input) => site.extractInfection({ denoiser, volume: volume.data, shape: volume.shape, ...input }),
    siteVolumes: async (siteDir, denoiser, split, input) => {
      const folder = SiteFolder.open(siteDir);
      try {
        return await infectionVolumes(folder, site, denoiser, split, input);
      } finally {
        folder.close();
      }
    },
    evaluate: async (classifier, volumes) => {
      const { metrics, probabilities } = await evaluateClassifier({ weights: classifier, data: [...volumes] });
      return { metrics, probabilities };
    },
    calibrate: (classifier, volumes) => calibrateClassifier({ weights: classifier, volumes }),
    trainClassifier: async (request) => {
      const result = await trainClassifier({
        config: cnnConfig(request.like),
        initialWeights: request.initialWeights ?? null,
        initSeed: request.initSeed,
        seed: request.seed,
        data: [...request.volumes],
        epochs: request.epochs,
        batchSize: request.batchSize,
        learningRate: request.learningRate,
        classBalanced: request.classBalanced,
        flipAugment: request.flipAugment,
        ...(request.workers ? { workers: request.workers } : {}),
        ...(request.onEpoch ? { onProgress: (p: TrainProgress) => { if (p.step === p.steps) request.onEpoch?.(p.epoch, p.epochs, p.loss); } } : {}),
      });
      return result.weights;
    },
    dispose: () => undefined,
  };
}
