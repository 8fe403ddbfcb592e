import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { classifierInputSize, hasBatchNorm, preprocessPath, scannerName } from '@fedct/pipeline';
import { CLASS_NAMES, type ClassName, type ModelBlob } from '@fedct/protocol';
import type { SiteFolder } from '../site/site-folder';
import { scannerVolumes } from '../training/local-data';
import type { InfectionSize, TrainingEngine } from '../training/training-engine';
import { SiteAgentError } from '../util/errors';
import { renderOverlayPng, representativeSlices, type OverlayPanel } from './overlay';
import { siteEvaluationFigures, type EvaluationLookup, type SiteEvaluationFigures } from './site-evaluation';

/** A model as predict uses it. */
export interface LoadedModel {
  blob: ModelBlob;
  sha256: string;
  version: string;
}

/** The contract of `fedct-site predict --json` (docs/cli.md), plus context. */
export interface PredictResult {
  prediction: ClassName;
  /** Keys in output order (control, covid-19, cap). */
  probabilities: Record<ClassName, number>;
  model: { version: string; sha256: string; denoiser: { version: string; sha256: string } };
  /** `calibrate`: site-local BatchNorm statistics (reading or extracting the site's maps, then one pass); 0 without. */
  timingMs: { preprocess: number; infection: number; calibrate: number; classify: number; picture: number; total: number };
  backend: string;
  study: { path: string; seriesInstanceUid: string; sourceSlices: number; modelReadyShape: [number, number, number] };
  /** The PNG written, or null without `outDir`. */
  picture: string | null;
  /**
   * Site-local BatchNorm statistics: the scanner model (from the study's header) and how many of the
   * site's own studies of it the classifier's statistics came from; null = the model's own statistics.
   */
  calibration: { scanner: string; studies: number } | null;
  /**
   * The newest federated evaluation of this classifier at this site (accuracy with its interval and n),
   * or null: never evaluated here, or no site folder.
   */
  evaluation: SiteEvaluationFigures | null;
  warnings: string[];
  /** Only with `keepVolumes`: the arrays behind the prediction (for display; never in `--json`). */
  volumes?: PredictVolumes;
}

/** The model-ready volume and the infection map a prediction was made from (spec §1, §4). */
export interface PredictVolumes {
  /** Model-ready volume (z, y, x), values in [0, 1], with its voxel spacing in mm. */
  modelReady: { data: Float32Array; shape: [number, number, number]; spacingMm: [number, number, number] };
  /** Infection map the classifier saw (z, y, x), resized to the classifier's depth; spacing scaled to cover the same extent. */
  infection: { data: Float32Array; shape: [number, number, number]; spacingMm: [number, number, number] };
  /** The series description from the source files ('' when none). */
  seriesDescription: string;
}

/** Fewest studies of a scanner model that site-local BatchNorm statistics are computed from. */
export const MIN_CALIBRATION_STUDIES = 8;
/**
 * Most studies they are computed from: infection maps missing from the cache (a new global denoiser,
 * archive studies) are extracted at the first prediction, so a large archive must not stall it.
 */
export const MAX_CALIBRATION_STUDIES = 64;

/** The site folder's studies as a {@link StudyArchive} (infection volumes from the site's cache), at most {@link MAX_CALIBRATION_STUDIES}. */
export function siteArchive(site: SiteFolder, engine: TrainingEngine): StudyArchive {
  return (scanner, denoiser, input) => scannerVolumes(site, engine, denoiser, scanner, input, MAX_CALIBRATION_STUDIES);
}

/** A site's own studies of one scanner model as infection volumes for this denoiser and map size (labels unused). */
export type StudyArchive = (scanner: string, denoiser: LoadedModel, input: InfectionSize | undefined) => Promise<{ data: Float32Array; shape: [number, number, number] }[]>;

/**
 * The classifier's output read by index in the protocol's class order ({@link CLASS_NAMES}): the
 * most probable class (the first of equals) and each class's probability.
 */
export function readProbabilities(probs: readonly number[]): Pick<PredictResult, 'prediction' | 'probabilities'> {
  let best = 0;
  for (let i = 1; i < CLASS_NAMES.length; i++) if ((probs[i] ?? 0) > (probs[best] ?? 0)) best = i;
  return {
    prediction: CLASS_NAMES[best] ?? 'control',
    probabilities: Object.fromEntries(CLASS_NAMES.map((name, i) => [name, probs[i] ?? 0])) as Record<ClassName, number>,
  };
}

/**
 * Runs CovidCTNet on one study, locally: read → preprocess (spec §1) → infection volume with the frozen
 * BCDU-Net (spec §4) → 3-D CNN (spec §5). With `outDir`, writes `<series>.png`: representative slices
 * with the infection map overlaid. With `keepVolumes`, the result also carries the model-ready volume and
 * the infection map ({@link PredictVolumes}), e.g. for the clinician viewer.
 *
 * A classifier with BatchNorm is first given site-local statistics: from `archive`, the site's own
 * studies of the study's scanner model (at least {@link MIN_CALIBRATION_STUDIES}), as the federated
 * model was meant to be used (docs/ARCHITECTURE.md, "Site-local BatchNorm statistics"). Without them it
 * keeps the federation's averaged statistics, and the result says so in `warnings`.
 */
export async function predictStudy(args: {
  path: string;
  engine: TrainingEngine;
  denoiser: LoadedModel;
  classifier: LoadedModel;
  archive?: StudyArchive;
  /** The site's stored evaluations (see {@link PredictResult.evaluation}). */
  evaluations?: EvaluationLookup;
  outDir?: string;
  keepVolumes?: boolean;
}): Promise<PredictResult> {
  const t0 = performance.now();
  const volume = await preprocessPath(args.path);
  const study = volume;
  const t2 = performance.now();
  const shape: [number, number, number] = [volume.shape[0], volume.shape[1], volume.shape[2]];
  const input = classifierInputSize(args.classifier.blob);
  const infection = await args.engine.extractInfection({ denoiser: args.denoiser.blob, volume: volume.data, shape, ...input });
  const t3 = performance.now();
  const warnings = [...volume.warnings];
  const { weights, calibration } = await siteStatistics(args, scannerName(volume.series), input, warnings);
  const tc = performance.now();
  const probs = await args.engine.classify({ weights, volume: infection.data, shape: infection.shape });
  const t4 = performance.now();
  if (!probs.every(Number.isFinite)) throw new SiteAgentError('the classifier returned non-finite probabilities: the model file is damaged', 'bad_model');
  let picture: string | null = null;
  if (args.outDir) {
    mkdirSync(args.outDir, { recursive: true });
    picture = join(args.outDir, `${safeName(study.series.seriesInstanceUid || 'study')}.png`);
    writeFileSync(picture, overlayPicture(volume.data, shape, infection.data, infection.shape));
  }
  const t5 = performance.now();
  const backend = await args.engine.backend();
  return {
    ...readProbabilities(probs),
    model: { version: args.classifier.version, sha256: args.classifier.sha256, denoiser: { version: args.denoiser.version, sha256: args.denoiser.sha256 } },
    timingMs: { preprocess: ms(t2 - t0), infection: ms(t3 - t2), calibrate: ms(tc - t3), classify: ms(t4 - tc), picture: ms(t5 - t4), total: ms(t5 - t0) },
    backend: backend.name,
    study: { path: args.path, seriesInstanceUid: study.series.seriesInstanceUid, sourceSlices: study.sourceSlices, modelReadyShape: shape },
    picture,
    calibration,
    evaluation: siteEvaluationFigures(args.evaluations?.(args.classifier.sha256) ?? null, args.denoiser.sha256),
    warnings,
    ...(args.keepVolumes ? { volumes: predictVolumes(volume.data, shape, volume.spacingMm, infection, volume.series.description ?? '') } : {}),
  };
}

function predictVolumes(data: Float32Array, shape: [number, number, number], spacingMm: readonly number[], infection: { data: Float32Array; shape: [number, number, number] }, seriesDescription: string): PredictVolumes {
  const spacing: [number, number, number] = [spacingMm[0] ?? 1, spacingMm[1] ?? 1, spacingMm[2] ?? 1];
  const [iz, iy, ix] = infection.shape;
  return {
    modelReady: { data, shape, spacingMm: spacing },
    infection: { data: infection.data, shape: infection.shape, spacingMm: [(spacing[0] * shape[0]) / iz, (spacing[1] * shape[1]) / iy, (spacing[2] * shape[2]) / ix] },
    seriesDescription,
  };
}

/** The PNG: four representative slices of the study with the infection map overlaid. */
export function overlayPicture(volume: Float32Array, shape: [number, number, number], infection: Float32Array, infectionShape: [number, number, number]): Buffer {
  const [iz, ih, iw] = infectionShape;
  const [vz, vh, vw] = shape;
  const picks = representativeSlices(infection, infectionShape, 4);
  let scale = 0;
  for (const v of infection) if (v > scale) scale = v;
  const panels: OverlayPanel[] = picks.map((k) => {
    const vk = iz > 1 ? Math.round((k * (vz - 1)) / (iz - 1)) : 0;
    return {
      slice: volume.subarray(vk * vh * vw, (vk + 1) * vh * vw),
      sliceHeight: vh,
      sliceWidth: vw,
      infection: infection.subarray(k * ih * iw, (k + 1) * ih * iw),
      infectionHeight: ih,
      infectionWidth: iw,
      label: `slice ${vk + 1}/${vz}`,
    };
  });
  return renderOverlayPng(panels, scale, 2);
}

/** The classifier with site-local BatchNorm statistics for this scanner model when the site has enough studies of it. */
async function siteStatistics(
  args: { engine: TrainingEngine; denoiser: LoadedModel; classifier: LoadedModel; archive?: StudyArchive },
  scanner: string,
  input: InfectionSize | undefined,
  warnings: string[],
): Promise<{ weights: ModelBlob; calibration: PredictResult['calibration'] }> {
  const own = { weights: args.classifier.blob, calibration: null };
  if (!hasBatchNorm(args.classifier.blob)) return own;
  const averaged = 'the classifier used the federation\'s averaged BatchNorm statistics, which can misread a scanner model it was not calibrated for';
  if (!args.archive) {
    warnings.push(`no site folder: ${averaged}`);
    return own;
  }
  if (scanner === '') {
    warnings.push(`the study names no scanner model (DICOM manufacturer and model name): ${averaged}`);
    return own;
  }
  const volumes = await args.archive(scanner, args.denoiser, input);
  if (volumes.length < MIN_CALIBRATION_STUDIES) {
    warnings.push(`only ${volumes.length} of this site's studies come from ${scanner} (site-local statistics need ${MIN_CALIBRATION_STUDIES}; add unlabeled ones with fedct-site import --archive): ${averaged}`);
    return own;
  }
  return { weights: await args.engine.calibrateClassifier({ weights: args.classifier.blob, volumes }), calibration: { scanner, studies: volumes.length } };
}

function ms(v: number): number {
  return Math.round(v * 10) / 10;
}

function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120);
}
