import type { ClassName } from '@fedct/protocol';
import type { SiteEvaluationFigures } from '../predict/site-evaluation';
import type { ViewerVolume } from './nifti-writer';

/** The three classes, as `predict` names them (the protocol's class names). */
export type ViewerLabel = ClassName;

/** What the viewer needs from one prediction. Everything stays on this machine. */
export interface ViewerPrediction {
  prediction: ViewerLabel;
  probabilities: Record<ViewerLabel, number>;
  /** The global model that made the prediction. `version` is null for a model file without one. */
  model: { version: string | null; sha256: string };
  timingMs: Record<string, number>;
  /** The model-ready volume (spec §1: values in [0, 1] = (HU + 1000) / 1400, 128 × 128 slices). */
  volume: ViewerVolume;
  /**
   * The infection map (spec §4: signed residual x − BCDU-Net(x)) on its own grid (e.g. 50 × 32 × 32
   * after the depth resize at the denoiser's input size); the server resamples it onto `volume`'s
   * voxels, assuming both cover the same extent. `null` when the predictor has none.
   */
  infection: ViewerVolume | null;
  /** The newest federated evaluation of this model at this site, or null (never evaluated here). */
  evaluation?: SiteEvaluationFigures | null;
  /** False without a site folder (then nothing is known about the model at this site). */
  atSite?: boolean;
  warnings: string[];
  /** A short description of the series (no patient identifiers). */
  description?: string;
}

/** Runs a prediction for the viewer. `path` is a study folder or file on this machine. */
export interface ViewerPredictor {
  predict(request: { path: string }): Promise<ViewerPrediction>;
}

/** One study of the local dataset, as the viewer lists it. */
export interface ViewerStudy {
  id: string;
  label: string;
  split: string;
  slices: number;
  sourcePath: string;
  importedAt: string;
}

/** Information shown in the viewer's header. */
export interface ViewerInfo {
  siteName: string | null;
  /** The model `predict` would use now, or null when none is available yet. */
  model: { version: string | null; sha256: string } | null;
}
