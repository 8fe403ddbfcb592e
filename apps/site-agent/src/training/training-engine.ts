import type { InfectionSize, LabelledVolume, SliceSet } from '@fedct/pipeline';
import type { BackendKind, HyperParameters, ModelBlob } from '@fedct/protocol';

/** Compute backend names as the protocol reports them. */
export type BackendName = BackendKind;

/** Slices and labelled volumes are the pipeline's own types (type-only: nothing of tfjs is loaded here). */
export type { LabelledVolume, SliceSet } from '@fedct/pipeline';

/** The size of infection maps a classifier reads (beside the 3-D CNN in @fedct/pipeline). */
export type { InfectionSize } from '@fedct/pipeline';

/** What local training gives back. `initial` is what training started from (the base, or the seeded init). */
export interface TrainOutcome {
  weights: ModelBlob;
  initial: ModelBlob;
  sampleCount: number;
  metrics: Record<string, number>;
}

export interface TrainRequest {
  base: ModelBlob | null;
  /** Seed for the initial weights when `base` is null (the same on every site). */
  initSeed: number;
  /** Network sizes from the task when `base` is null (the manifest `config` of the model to build); absent = the engine's own. */
  modelConfig?: Record<string, unknown>;
  hyper: HyperParameters;
  /** Seed for shuffling, noise and dropout. */
  seed: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Everything the site agent needs from the networks, behind one small interface so that tests can run
 * a tiny profile (or a stand-in) and the daemon stays free of tensor code.
 */
export interface TrainingEngine {
  /** The compute backend in use (initialised on first call). */
  backend(): Promise<{ name: BackendName; gpu: boolean; threads: number }>;
  /** Profile name, for logs and `predict` output. */
  readonly profileName: string;
  /** Trains the BCDU-Net on control slices with seeded Perlin pseudo-infection (spec §2–3). */
  trainDenoiser(request: TrainRequest & { slices: SliceSet }): Promise<TrainOutcome>;
  /** Denoiser metrics on held-out control slices (same noise recipe, fixed seed). */
  evaluateDenoiser(request: { weights: ModelBlob; slices: SliceSet; seed: number }): Promise<Record<string, number>>;
  /**
   * Infection volume of a model-ready study with a frozen BCDU-Net (spec §4), resized to `depth` slices
   * (default: the profile's classifier depth) of `size` × `size` (default: the profile's classifier size).
   */
  extractInfection(request: { denoiser: ModelBlob; volume: Float32Array; shape: [number, number, number] } & InfectionSize): Promise<{ data: Float32Array; shape: [number, number, number] }>;
  /** Trains the 3-D CNN on infection volumes (spec §5). */
  trainClassifier(request: TrainRequest & { volumes: LabelledVolume[] }): Promise<TrainOutcome>;
  /** Classifier metrics on labelled infection volumes (spec §6 names). */
  evaluateClassifier(request: { weights: ModelBlob; volumes: LabelledVolume[] }): Promise<Record<string, number>>;
  /**
   * The classifier with BatchNorm statistics from these unlabeled infection volumes (site-local
   * statistics, one scanner model's studies); the same blob when the classifier has no BatchNorm.
   */
  calibrateClassifier(request: { weights: ModelBlob; volumes: { data: Float32Array; shape: [number, number, number] }[] }): Promise<ModelBlob>;
  /** Class probabilities [control, covid-19, cap] for one infection volume. */
  classify(request: { weights: ModelBlob; volume: Float32Array; shape: [number, number, number] }): Promise<[number, number, number]>;
}
