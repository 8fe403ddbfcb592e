import { classifierInputSize, hasBatchNorm } from '@fedct/pipeline';
import type { SiteFolder } from '../site/site-folder';
import type { TrainingEngine } from '../training/training-engine';
import type { Progress } from '../util/progress';
import { MIN_CALIBRATION_STUDIES, siteArchive, type LoadedModel } from './predict.service';

/** What {@link prepareCalibration} found and cached. */
export interface CalibrationReport {
  denoiser: { version: string; sha256: string };
  classifier: { version: string; sha256: string };
  /** False: the classifier has no BatchNorm layers, so predictions need no site-local statistics. */
  batchNorm: boolean;
  /** Each scanner model the site has studies of (labelled or archive), and whether predictions calibrate for it. */
  scanners: { scanner: string; studies: number; calibrates: boolean }[];
  /** Studies whose scanner model is unknown (none named in the header, or imported before it was recorded). */
  unnamed: number;
  durationMs: number;
}

/**
 * Extracts and caches, for these models, the infection maps that site-local BatchNorm statistics
 * read (`predictStudy`): the site's own studies of each scanner model, labelled and archive, as many
 * as a prediction uses. Afterwards the first prediction of a scanner model needs no extraction; without
 * it, the first prediction after a new denoiser extracts them itself (about 0.5 s a study on 2 cores).
 */
export async function prepareCalibration(args: {
  site: SiteFolder;
  engine: TrainingEngine;
  denoiser: LoadedModel;
  classifier: LoadedModel;
  progress?: Progress;
}): Promise<CalibrationReport> {
  const started = Date.now();
  const { site } = args;
  const studies = [...site.index.list(), ...site.index.listArchive()];
  const names = [...new Set(studies.map((s) => s.scanner).filter((s) => s !== ''))].sort();
  const report: CalibrationReport = {
    denoiser: { version: args.denoiser.version, sha256: args.denoiser.sha256 },
    classifier: { version: args.classifier.version, sha256: args.classifier.sha256 },
    batchNorm: hasBatchNorm(args.classifier.blob),
    scanners: [],
    unnamed: studies.filter((s) => s.scanner === '').length,
    durationMs: 0,
  };
  if (report.batchNorm) {
    const archive = siteArchive(site, args.engine);
    const input = classifierInputSize(args.classifier.blob);
    args.progress?.start(names.length, 'infection maps per scanner model');
    for (const [i, scanner] of names.entries()) {
      const volumes = await archive(scanner, args.denoiser, input);
      report.scanners.push({ scanner, studies: volumes.length, calibrates: volumes.length >= MIN_CALIBRATION_STUDIES });
      args.progress?.update(i + 1, `${scanner}: ${volumes.length} studies`);
    }
    args.progress?.stop();
  }
  report.durationMs = Date.now() - started;
  return report;
}
