import { CLASS_INDEX, evaluationCounts, type EvaluationCounts, type EvaluationSplit } from '@fedct/protocol';
import { hasBatchNorm } from '@fedct/pipeline';
import { classifierInput, MIN_CALIBRATION_STUDIES, siteArchive, type LoadedModel } from '../predict/predict.service';
import type { SiteFolder } from '../site/site-folder';
import { infectionVolumes } from '../training/local-data';
import type { TrainingEngine } from '../training/training-engine';

/** What a site measured: the counts it may send, and how the classifier was run. */
export interface LocalMeasurement {
  counts: EvaluationCounts;
  /** Per scanner model, the studies whose BatchNorm statistics the classifier used (site-local); empty without BatchNorm. */
  calibration: Record<string, number>;
}

/**
 * Measures a classifier (with its frozen denoiser) on one split of this site's studies, as `predict`
 * runs it: infection volumes with the denoiser (the site's cache), site-local BatchNorm statistics per
 * scanner model where the classifier has BatchNorm and the site has {@link MIN_CALIBRATION_STUDIES}
 * studies of that scanner model (else its own statistics), then the classifier. Returns only the
 * aggregate counts (@fedct/protocol evaluation.ts) and which statistics were used.
 */
export async function measureLocally(args: {
  site: SiteFolder;
  engine: TrainingEngine;
  classifier: LoadedModel;
  denoiser: LoadedModel;
  split: EvaluationSplit;
  onProgress?: (done: number, total: number) => void;
}): Promise<LocalMeasurement> {
  const { site, engine } = args;
  const studies = site.index.list({ split: args.split });
  const input = classifierInput(args.classifier.blob);
  const volumes = await infectionVolumes(site, engine, args.denoiser, args.split, input, args.onProgress);
  const archive = siteArchive(site, engine);
  const calibration: Record<string, number> = {};
  const byScanner = new Map<string, number[]>();
  studies.forEach((s, i) => byScanner.set(s.scanner, [...(byScanner.get(s.scanner) ?? []), i]));
  const probabilities: number[][] = new Array<number[]>(studies.length);
  for (const [scanner, indices] of byScanner) {
    let weights = args.classifier.blob;
    if (hasBatchNorm(weights) && scanner !== '') {
      const own = await archive(scanner, args.denoiser, input);
      if (own.length >= MIN_CALIBRATION_STUDIES) {
        weights = await engine.calibrateClassifier({ weights, volumes: own });
        calibration[scanner] = own.length;
      }
    }
    for (const i of indices) {
      const v = volumes[i]!;
      probabilities[i] = await engine.classify({ weights, volume: v.data, shape: v.shape });
    }
  }
  return { counts: evaluationCounts(studies.map((s) => CLASS_INDEX[s.label]), probabilities), calibration };
}
