import Database from 'better-sqlite3';
import { CLASS_INDEX, CLASS_NAMES, type ClassName, type EvaluationCounts } from '@fedct/protocol';

/** Labels a study can have: the three CovidCTNet classes (the protocol's list, in output order). */
export const LABELS: readonly Label[] = CLASS_NAMES;
export type Label = ClassName;
/** Class index as the networks use it (the protocol's output order). */
export const LABEL_INDEX: Readonly<Record<Label, number>> = CLASS_INDEX;
export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];

/** One imported study (one CT series). */
export interface StudyRecord {
  seriesInstanceUid: string;
  studyInstanceUid: string | null;
  label: Label;
  split: Split;
  /** Where the raw data was read from (never copied). */
  sourcePath: string;
  /** sha256 of the cached model-ready volume's float bytes. */
  volumeSha256: string;
  /** Model-ready shape [z, y, x]. */
  shape: [number, number, number];
  spacingMm: [number, number, number];
  sourceSlices: number;
  /** Scanner model as the header names it (`scannerName`: manufacturer and model), '' when unnamed. */
  scanner: string;
  warnings: string[];
  importedAt: string;
}

/**
 * A study of the site's unlabeled archive: never trained on or evaluated, only a source of site-local
 * BatchNorm statistics for its scanner model.
 */
export type ArchiveRecord = Omit<StudyRecord, 'label' | 'split' | 'studyInstanceUid'>;

/** A federated evaluation this site took part in: the counts it sent, and what they measured. */
export interface LocalEvaluation {
  evaluation: string;
  classifierSha256: string;
  classifierVersion: string;
  denoiserSha256: string;
  split: 'val' | 'test';
  counts: EvaluationCounts;
  at: string;
}

/** A path that an import could not use, and why. */
export interface SkippedRecord {
  sourcePath: string;
  reason: string;
  at: string;
}

/** Dataset counts, as heartbeats report them (counts only, never content). */
export interface DatasetCounts {
  studies: number;
  slices: number;
  byLabel: Record<Label, number>;
  bySplit: Record<Split, number>;
}

interface StudyRow {
  series_uid: string;
  study_uid: string | null;
  label: string;
  split: string;
  source_path: string;
  volume_sha: string;
  shape: string;
  spacing: string;
  source_slices: number;
  /** NULL: a study of an index made before scanner models were recorded. */
  scanner: string | null;
  warnings: string;
  imported_at: string;
}

/**
 * The site's local dataset index in SQLite (WAL). One row per series, keyed by SeriesInstanceUID, so
 * importing the same series twice keeps one study.
 */
export class DatasetIndex {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS studies (
        series_uid TEXT PRIMARY KEY,
        study_uid TEXT,
        label TEXT NOT NULL CHECK (label IN (${LABELS.map((l) => `'${l}'`).join(', ')})),
        split TEXT NOT NULL CHECK (split IN ('train', 'val', 'test')),
        source_path TEXT NOT NULL,
        volume_sha TEXT NOT NULL,
        shape TEXT NOT NULL,
        spacing TEXT NOT NULL,
        source_slices INTEGER NOT NULL,
        warnings TEXT NOT NULL,
        imported_at TEXT NOT NULL,
        scanner TEXT NOT NULL DEFAULT ''
      );
      CREATE INDEX IF NOT EXISTS studies_source ON studies (source_path);
      CREATE TABLE IF NOT EXISTS skipped (
        source_path TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        at TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS archive (
        series_uid TEXT PRIMARY KEY,
        source_path TEXT NOT NULL,
        volume_sha TEXT NOT NULL,
        shape TEXT NOT NULL,
        spacing TEXT NOT NULL,
        source_slices INTEGER NOT NULL,
        scanner TEXT NOT NULL,
        warnings TEXT NOT NULL,
        imported_at TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS archive_source ON archive (source_path);
      CREATE TABLE IF NOT EXISTS evaluations (
        evaluation TEXT NOT NULL,
        classifier_sha TEXT NOT NULL,
        classifier_version TEXT NOT NULL,
        denoiser_sha TEXT NOT NULL,
        split TEXT NOT NULL,
        counts TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (evaluation, classifier_sha)
      );
    `);
    // Indexes made before studies recorded their scanner model: the column is added, NULL (not recorded)
    // for those studies; they read as '' until a re-import of their source records it (`scannerRecorded`).
    const columns = (this.db.prepare('PRAGMA table_info(studies)').all() as { name: string }[]).map((c) => c.name);
    if (!columns.includes('scanner')) this.db.exec('ALTER TABLE studies ADD COLUMN scanner TEXT');
  }

  close(): void {
    this.db.close();
  }

  /** Inserts or replaces a study (same series → same row). Returns true when the series was new. */
  upsert(study: StudyRecord): boolean {
    const existed = this.get(study.seriesInstanceUid) !== null;
    this.db
      .prepare(
        `INSERT INTO studies (series_uid, study_uid, label, split, source_path, volume_sha, shape, spacing, source_slices, scanner, warnings, imported_at)
         VALUES (@series_uid, @study_uid, @label, @split, @source_path, @volume_sha, @shape, @spacing, @source_slices, @scanner, @warnings, @imported_at)
         ON CONFLICT (series_uid) DO UPDATE SET study_uid = excluded.study_uid, label = excluded.label, split = excluded.split,
           source_path = excluded.source_path, volume_sha = excluded.volume_sha, shape = excluded.shape, spacing = excluded.spacing,
           source_slices = excluded.source_slices, scanner = excluded.scanner, warnings = excluded.warnings, imported_at = excluded.imported_at`,
      )
      .run(toRow(study));
    this.db.prepare('DELETE FROM skipped WHERE source_path = ?').run(study.sourcePath);
    return !existed;
  }

  /** Removes a study's row (the cache is the site folder's business: SiteFolder.removeStudy). */
  remove(seriesInstanceUid: string): void {
    this.db.prepare('DELETE FROM studies WHERE series_uid = ?').run(seriesInstanceUid);
  }

  /** Whether any study or archive entry still uses this cached volume. */
  volumeInUse(volumeSha256: string): boolean {
    return this.db.prepare('SELECT 1 FROM studies WHERE volume_sha = ? UNION ALL SELECT 1 FROM archive WHERE volume_sha = ? LIMIT 1').get(volumeSha256, volumeSha256) !== undefined;
  }

  get(seriesInstanceUid: string): StudyRecord | null {
    const row = this.db.prepare('SELECT * FROM studies WHERE series_uid = ?').get(seriesInstanceUid) as StudyRow | undefined;
    return row ? fromRow(row) : null;
  }

  /** The study imported from exactly this source path, if any (lets an interrupted import resume cheaply). */
  bySourcePath(sourcePath: string): StudyRecord | null {
    const row = this.db.prepare('SELECT * FROM studies WHERE source_path = ?').get(sourcePath) as StudyRow | undefined;
    return row ? fromRow(row) : null;
  }

  /**
   * False for a study imported before the index recorded scanner models (its scanner reads as '');
   * true once its scanner model is recorded, even as '' when the header names none.
   */
  scannerRecorded(seriesInstanceUid: string): boolean {
    const row = this.db.prepare('SELECT scanner IS NOT NULL AS recorded FROM studies WHERE series_uid = ?').get(seriesInstanceUid) as { recorded: number } | undefined;
    return row?.recorded === 1;
  }

  /** Studies, optionally filtered, in import order. */
  list(filter: { label?: Label; split?: Split; scanner?: string } = {}): StudyRecord[] {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.scanner !== undefined) {
      where.push('scanner = ?');
      args.push(filter.scanner);
    }
    if (filter.label) {
      where.push('label = ?');
      args.push(filter.label);
    }
    if (filter.split) {
      where.push('split = ?');
      args.push(filter.split);
    }
    const sql = `SELECT * FROM studies ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY imported_at, series_uid`;
    return (this.db.prepare(sql).all(...args) as StudyRow[]).map(fromRow);
  }

  /** Inserts or replaces an archive study (same series → same row). Returns true when the series was new. */
  upsertArchive(study: ArchiveRecord): boolean {
    const existed = this.db.prepare('SELECT 1 FROM archive WHERE series_uid = ?').get(study.seriesInstanceUid) !== undefined;
    this.db
      .prepare(
        `INSERT INTO archive (series_uid, source_path, volume_sha, shape, spacing, source_slices, scanner, warnings, imported_at)
         VALUES (@series_uid, @source_path, @volume_sha, @shape, @spacing, @source_slices, @scanner, @warnings, @imported_at)
         ON CONFLICT (series_uid) DO UPDATE SET source_path = excluded.source_path, volume_sha = excluded.volume_sha, shape = excluded.shape,
           spacing = excluded.spacing, source_slices = excluded.source_slices, scanner = excluded.scanner, warnings = excluded.warnings, imported_at = excluded.imported_at`,
      )
      .run(toArchiveRow(study));
    this.db.prepare('DELETE FROM skipped WHERE source_path = ?').run(study.sourcePath);
    return !existed;
  }

  /** The archive study imported from exactly this source path, if any. */
  archiveBySourcePath(sourcePath: string): ArchiveRecord | null {
    const row = this.db.prepare('SELECT * FROM archive WHERE source_path = ?').get(sourcePath) as ArchiveRow | undefined;
    return row ? fromArchiveRow(row) : null;
  }

  /** Archive studies, optionally of one scanner model, in import order. */
  listArchive(filter: { scanner?: string } = {}): ArchiveRecord[] {
    const rows = filter.scanner === undefined
      ? this.db.prepare('SELECT * FROM archive ORDER BY imported_at, series_uid').all()
      : this.db.prepare('SELECT * FROM archive WHERE scanner = ? ORDER BY imported_at, series_uid').all(filter.scanner);
    return (rows as ArchiveRow[]).map(fromArchiveRow);
  }

  recordSkipped(sourcePath: string, reason: string, at: string): void {
    this.db
      .prepare('INSERT INTO skipped (source_path, reason, at) VALUES (?, ?, ?) ON CONFLICT (source_path) DO UPDATE SET reason = excluded.reason, at = excluded.at')
      .run(sourcePath, reason, at);
  }

  skipped(): SkippedRecord[] {
    return (this.db.prepare('SELECT source_path, reason, at FROM skipped ORDER BY at').all() as { source_path: string; reason: string; at: string }[]).map((r) => ({
      sourcePath: r.source_path,
      reason: r.reason,
      at: r.at,
    }));
  }

  counts(): DatasetCounts {
    const byLabel = Object.fromEntries(LABELS.map((l) => [l, 0])) as Record<Label, number>;
    const bySplit: Record<Split, number> = { train: 0, val: 0, test: 0 };
    let studies = 0;
    let slices = 0;
    for (const s of this.list()) {
      studies += 1;
      slices += s.shape[0];
      byLabel[s.label] += 1;
      bySplit[s.split] += 1;
    }
    return { studies, slices, byLabel, bySplit };
  }

  /** Keeps what this site measured and sent in a federated evaluation (for predict and the viewer). */
  recordEvaluation(e: LocalEvaluation): void {
    this.db
      .prepare('INSERT OR REPLACE INTO evaluations (evaluation, classifier_sha, classifier_version, denoiser_sha, split, counts, at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(e.evaluation, e.classifierSha256, e.classifierVersion, e.denoiserSha256, e.split, JSON.stringify(e.counts), e.at);
  }

  /** The newest evaluation of this classifier at this site, or null. */
  latestEvaluation(classifierSha256: string): LocalEvaluation | null {
    const row = this.db
      .prepare<[string], { evaluation: string; classifier_sha: string; classifier_version: string; denoiser_sha: string; split: 'val' | 'test'; counts: string; at: string }>(
        'SELECT * FROM evaluations WHERE classifier_sha = ? ORDER BY at DESC LIMIT 1',
      )
      .get(classifierSha256);
    return row
      ? { evaluation: row.evaluation, classifierSha256: row.classifier_sha, classifierVersion: row.classifier_version, denoiserSha256: row.denoiser_sha, split: row.split, counts: JSON.parse(row.counts) as EvaluationCounts, at: row.at }
      : null;
  }

  getMeta(key: string): string | null {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }
}

type ArchiveRow = Omit<StudyRow, 'label' | 'split' | 'study_uid'>;

function toArchiveRow(s: ArchiveRecord): ArchiveRow {
  return {
    series_uid: s.seriesInstanceUid,
    source_path: s.sourcePath,
    volume_sha: s.volumeSha256,
    shape: JSON.stringify(s.shape),
    spacing: JSON.stringify(s.spacingMm),
    source_slices: s.sourceSlices,
    scanner: s.scanner,
    warnings: JSON.stringify(s.warnings),
    imported_at: s.importedAt,
  };
}

function fromArchiveRow(r: ArchiveRow): ArchiveRecord {
  return {
    seriesInstanceUid: r.series_uid,
    sourcePath: r.source_path,
    volumeSha256: r.volume_sha,
    shape: JSON.parse(r.shape) as [number, number, number],
    spacingMm: JSON.parse(r.spacing) as [number, number, number],
    sourceSlices: r.source_slices,
    scanner: r.scanner ?? '',
    warnings: JSON.parse(r.warnings) as string[],
    importedAt: r.imported_at,
  };
}

/** A labelled study's row: an archive row plus its study UID, label and split. */
function toRow(s: StudyRecord): StudyRow {
  return { ...toArchiveRow(s), study_uid: s.studyInstanceUid, label: s.label, split: s.split };
}

function fromRow(r: StudyRow): StudyRecord {
  return { ...fromArchiveRow(r), studyInstanceUid: r.study_uid, label: r.label as Label, split: r.split as Split };
}
