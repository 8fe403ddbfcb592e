import type { ModelBlob } from '@fedct/protocol';
import { DemoError } from './errors';

/** An infection volume (spec §4) at the classifier's input size. */
export interface InfectionVolume {
  data: Float32Array;
  shape: [number, number, number];
}

/** What the demo needs from @fedct/pipeline for the in-process parts (evaluation, baselines). */
export interface DemoEngine {
  /** The compute backend in use. */
  readonly backend: string;
  /** [depth, height, width] the classifier expects. */
  classifierInputShape(classifier: ModelBlob): [number, number, number];
  /** Residual x − BCDUNet(x) of a model-ready volume, resized to the classifier's input. */
  extractInfection(denoiser: ModelBlob, volume: { data: Float32Array; shape: [number, number, number] }): Promise<InfectionVolume>;
  /** Class probabilities [control, covid-19, cap] per volume. */
  classify(classifier: ModelBlob, volumes: readonly InfectionVolume[]): Promise<number[][]>;
  /** Trains a classifier from the seeded initial weights, as a site's first round would. */
  trainClassifier(request: { initSeed: number; seed: number; volumes: readonly (InfectionVolume & { label: number })[]; epochs: number; batchSize: number; learningRate: number }): Promise<ModelBlob>;
}

/** The engine on @fedct/pipeline for a profile. */
export async function createDemoEngine(profile: string): Promise<DemoEngine> {
  throw new DemoError(`in-process evaluation for profile ${profile}: @fedct/pipeline has no trainClassifier/extractInfection yet`);
}
