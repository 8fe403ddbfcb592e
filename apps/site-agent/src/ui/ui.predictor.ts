import { preprocessPath } from '@fedct/pipeline';
import { classifierDepth, type LoadedModel } from '../predict/predict.service';
import type { TrainingEngine } from '../training/training-engine';
import { SiteAgentError } from '../util/errors';
import type { ViewerLabel, ViewerPrediction, ViewerPredictor } from './ui.types';

/** Class order of the classifier's output (spec §5: 0 Control, 1 Covid-19, 2 CAP). */
const CLASSES: readonly ViewerLabel[] = ['control', 'covid-19', 'cap'];

/** The two global models a prediction needs. */
export interface ViewerModels {
  denoiser: LoadedModel;
  classifier: LoadedModel;
}

/**
 * The viewer's predictor: the same steps as `fedct-site predict` (read → preprocess → infection volume
 * with the frozen BCDU-Net → 3-D CNN, through the site agent's {@link TrainingEngine}), but keeping the
 * model-ready volume and the infection map for display. `models` is asked before each prediction, so a
 * global model the daemon fetched meanwhile is used; it throws a one-line error when none is there.
 */
export function createEnginePredictor(options: { engine: TrainingEngine; models: () => ViewerModels }): ViewerPredictor {
  return {
    async predict({ path }): Promise<ViewerPrediction> {
      const { denoiser, classifier } = options.models();
      const t0 = performance.now();
      const volume = await preprocessPath(path);
      const t1 = performance.now();
      const shape: [number, number, number] = [volume.shape[0], volume.shape[1], volume.shape[2]];
      const depth = classifierDepth(classifier.blob);
      const infection = await options.engine.extractInfection({ denoiser: denoiser.blob, volume: volume.data, shape, ...(depth ? { depth } : {}) });
      const t2 = performance.now();
      const probs = await options.engine.classify({ weights: classifier.blob, volume: infection.data, shape: infection.shape });
      const t3 = performance.now();
      if (!probs.every(Number.isFinite)) throw new SiteAgentError('the classifier returned non-finite probabilities: the model file is damaged', 'bad_model');
      let best = 0;
      for (let i = 1; i < 3; i++) if ((probs[i] ?? 0) > (probs[best] ?? 0)) best = i;
      const [iz, iy, ix] = infection.shape;
      const spacing: [number, number, number] = [volume.spacingMm[0], volume.spacingMm[1], volume.spacingMm[2]];
      return {
        prediction: CLASSES[best] ?? 'control',
        probabilities: { control: probs[0], 'covid-19': probs[1], cap: probs[2] },
        model: { version: classifier.version, sha256: classifier.sha256 },
        timingMs: { preprocess: Math.round(t1 - t0), infection: Math.round(t2 - t1), classify: Math.round(t3 - t2) },
        volume: { data: volume.data, shape, spacingMm: spacing },
        infection: {
          data: infection.data,
          shape: infection.shape,
          spacingMm: [(spacing[0] * shape[0]) / iz, (spacing[1] * shape[1]) / iy, (spacing[2] * shape[2]) / ix],
        },
        warnings: volume.warnings,
        description: [volume.series.description, `${volume.sourceSlices} source slices`].filter(Boolean).join(' · '),
      };
    },
  };
}
