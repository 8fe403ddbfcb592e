import { createHash } from 'node:crypto';
import { preprocessPath, scannerName } from '@fedct/pipeline';
import type { SiteFolder } from '../site/site-folder';
import { oneLine } from '../util/errors';
import type { Logger } from '../util/logger';
import type { Progress } from '../util/progress';
import type { Label, Split } from './dataset-index';
import { discoverStudies } from './study-discovery';

export interface ImportOptions {
  /** `archive`: the site's unlabeled archive (site-local BatchNorm statistics only; never trained on). */
  label: Label | 'archive';
  /** A split, or `auto`: a stable 70 / 15 / 15 split by a hash of the SeriesInstanceUID. Not used for the archive. */
  split: Split | 'auto';
  logger: Logger;
  progress?: Progress;
  now?: () => Date;
}

/** What one import did. */
export interface ImportSummary {
  path: string;
  label: Label | 'archive';
  candidates: number;
  /** New series added to the index. */
  imported: number;
  /** Series that were already in the index (same source or same SeriesInstanceUID). */
  alreadyPresent: number;
  /** Model-ready slices of the studies imported now. */
  slices: number;
  skipped: { path: string; reason: string }[];
  warnings: { path: string; warning: string }[];
  /**
   * Studies already present with another label or split than this import asked for: kept as they
   * were (`fedct-site relabel` changes them), so that a mistyped `--label` relabels nothing.
   */
  conflicts: { path: string; series: string; label: Label; split: Split; asked: { label: Label; split: Split } }[];
  durationMs: number;
}

/** The split `auto` gives a series: stable across runs and sites. */
export function autoSplit(seriesInstanceUid: string): Split {
  const bucket = createHash('sha256').update(seriesInstanceUid).digest().readUInt32BE(0) % 100;
  return bucket < 70 ? 'train' : bucket < 85 ? 'val' : 'test';
}

/**
 * Imports every study under `path`: reads it in place (DICOM or NIfTI), preprocesses it to the
 * model-ready volume (spec §1), caches the volume in the site folder and records it in the index.
 * Idempotent (a series already in the index is not imported twice) and resumable (each study is
 * committed on its own, and a source already imported is not read again, except once to record the
 * scanner model of a study imported before the index kept it). A study that cannot be read
 * is skipped, recorded with its reason and reported; the import goes on.
 */
export async function importStudies(site: SiteFolder, path: string, options: ImportOptions): Promise<ImportSummary> {
  const started = Date.now();
  const now = options.now ?? (() => new Date());
  const candidates = discoverStudies(path);
  const summary: ImportSummary = { path, label: options.label, candidates: candidates.length, imported: 0, alreadyPresent: 0, slices: 0, skipped: [], warnings: [], conflicts: [], durationMs: 0 };
  const index = site.index;
  const cache = site.volumes;
  options.progress?.start(candidates.length, `import ${options.label}`);
  for (const [i, candidate] of candidates.entries()) {
    const labelled = options.label === 'archive' ? null : index.bySourcePath(candidate.sourcePath);
    const previous = options.label === 'archive' ? index.archiveBySourcePath(candidate.sourcePath) : labelled;
    // A study from before scanner models were recorded is read once more to record its scanner model.
    // ('' is also a header that names none; only then is the row looked at again.)
    const stale = labelled !== null && labelled.scanner === '' && !index.scannerRecorded(labelled.seriesInstanceUid);
    if (previous && cache.has(previous.volumeSha256) && !stale) {
      // A labelled study imported again keeps its label and split; a different one asked for is reported.
      if (labelled && options.label !== 'archive') {
        const split = options.split === 'auto' ? autoSplit(labelled.seriesInstanceUid) : options.split;
        if (labelled.label !== options.label || labelled.split !== split) {
          summary.conflicts.push({ path: candidate.sourcePath, series: labelled.seriesInstanceUid, label: labelled.label, split: labelled.split, asked: { label: options.label, split } });
        }
      }
      summary.alreadyPresent += 1;
      options.progress?.update(i + 1, 'already imported');
      continue;
    }
    try {
      const volume = await preprocessPath(candidate.kind === 'nifti' ? candidate.sourcePath : candidate.files);
      const study = volume;
      const seriesUid = study.series.seriesInstanceUid || `path:${createHash('sha256').update(candidate.sourcePath).digest('hex').slice(0, 32)}`;
      const sha = cache.put(volume.data, volume.shape, volume.spacingMm);
      const warnings = [...volume.warnings, ...volume.otherSeries.map((o) => `series ${o.seriesInstanceUid} not imported: ${o.reason}`)];
      const record = {
        seriesInstanceUid: seriesUid,
        sourcePath: candidate.sourcePath,
        volumeSha256: sha,
        shape: [volume.shape[0], volume.shape[1], volume.shape[2]] as [number, number, number],
        spacingMm: [volume.spacingMm[0], volume.spacingMm[1], volume.spacingMm[2]] as [number, number, number],
        sourceSlices: study.sourceSlices,
        scanner: scannerName(study.series),
        warnings,
        importedAt: now().toISOString(),
      };
      let isNew: boolean;
      if (options.label === 'archive') {
        isNew = index.upsertArchive(record);
      } else {
        // The same series from another path: recorded again (its path, its scanner) under the label and split it has.
        const split = options.split === 'auto' ? autoSplit(seriesUid) : options.split;
        const existing = index.get(seriesUid);
        if (existing && (existing.label !== options.label || existing.split !== split)) {
          summary.conflicts.push({ path: candidate.sourcePath, series: seriesUid, label: existing.label, split: existing.split, asked: { label: options.label, split } });
        }
        isNew = index.upsert({ ...record, studyInstanceUid: study.series.studyInstanceUid ?? null, label: existing?.label ?? options.label, split: existing?.split ?? split });
      }
      for (const warning of warnings) summary.warnings.push({ path: candidate.sourcePath, warning });
      if (isNew) {
        summary.imported += 1;
        summary.slices += volume.shape[0];
        options.logger.debug('study imported', { path: candidate.sourcePath, series: seriesUid, slices: volume.shape[0] });
      } else {
        summary.alreadyPresent += 1;
      }
      options.progress?.update(i + 1, `${volume.shape[0]} slices`);
    } catch (error) {
      const reason = oneLine(error);
      index.recordSkipped(candidate.sourcePath, reason, now().toISOString());
      summary.skipped.push({ path: candidate.sourcePath, reason });
      options.logger.warn('study skipped', { path: candidate.sourcePath, reason });
      options.progress?.update(i + 1, 'skipped');
    }
  }
  options.progress?.stop();
  summary.durationMs = Date.now() - started;
  return summary;
}
