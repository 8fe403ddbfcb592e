import { predictStudy, type LoadedModel, type StudyArchive } from '../predict/predict.service';
import type { EvaluationLookup } from '../predict/site-evaluation';
import type { TrainingEngine } from '../training/training-engine';
import type { ViewerPrediction, ViewerPredictor } from './ui.types';

/** The two global models a prediction needs. */
export interface ViewerModels {
  denoiser: LoadedModel;
  classifier: LoadedModel;
}

/**
 * The viewer's predictor: `fedct-site predict`'s {@link predictStudy} (read → preprocess → infection
 * volume with the frozen BCDU-Net → 3-D CNN, through the site agent's {@link TrainingEngine}) asked to
 * keep the model-ready volume and the infection map for display. `models` is asked before each
 * prediction, so a global model the daemon fetched meanwhile is used; it throws a one-line error when
 * none is there.
 */
export function createEnginePredictor(options: { engine: TrainingEngine; models: () => ViewerModels; archive?: StudyArchive; evaluations?: EvaluationLookup }): ViewerPredictor {
  return {
    async predict({ path }): Promise<ViewerPrediction> {
      const { denoiser, classifier } = options.models();
      const result = await predictStudy({ path, engine: options.engine, denoiser, classifier, keepVolumes: true, ...(options.archive ? { archive: options.archive } : {}), ...(options.evaluations ? { evaluations: options.evaluations } : {}) });
      const volumes = result.volumes;
      if (!volumes) throw new Error('predictStudy did not keep the volumes');
      return {
        prediction: result.prediction,
        probabilities: result.probabilities,
        model: { version: classifier.version, sha256: classifier.sha256 },
        timingMs: { preprocess: Math.round(result.timingMs.preprocess), infection: Math.round(result.timingMs.infection), classify: Math.round(result.timingMs.classify) },
        volume: volumes.modelReady,
        infection: volumes.infection,
        evaluation: result.evaluation,
        atSite: options.evaluations !== undefined,
        warnings: result.warnings,
        description: [
          volumes.seriesDescription,
          `${result.study.sourceSlices} source slices`,
          result.calibration ? `BatchNorm statistics from ${result.calibration.studies} local studies of ${result.calibration.scanner}` : '',
        ].filter(Boolean).join(' · '),
      };
    },
  };
}
