import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { DatasetIndex, type StudyRecord } from './dataset-index';

function study(uid: string, over: Partial<StudyRecord> = {}): StudyRecord {
  return {
    seriesInstanceUid: uid,
    studyInstanceUid: null,
    label: 'control',
    split: 'train',
    sourcePath: `/data/${uid}`,
    volumeSha256: 'a'.repeat(64),
    shape: [20, 128, 128],
    spacingMm: [1, 1, 1],
    sourceSlices: 10,
    scanner: 'SIEMENS SOMATOM Definition AS',
    warnings: [],
    importedAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

describe(DatasetIndex.name, () => {
  it('keeps one row per series and counts slices per label and split', () => {
    const index = new DatasetIndex(join(mkdtempSync(join(tmpdir(), 'fedct-index-')), 'index.sqlite'));
    expect(index.upsert(study('1.2.3'))).toBe(true);
    expect(index.upsert(study('1.2.3', { label: 'cap', split: 'val' }))).toBe(false);
    index.upsert(study('1.2.4', { label: 'covid-19', shape: [7, 128, 128] }));
    expect(index.list()).toHaveLength(2);
    expect(index.get('1.2.3')?.label).toBe('cap');
    expect(index.counts()).toEqual({
      studies: 2,
      slices: 27,
      byLabel: { control: 0, cap: 1, 'covid-19': 1 },
      bySplit: { train: 1, val: 1, test: 0 },
    });
    expect(index.list({ label: 'covid-19' }).map((s) => s.seriesInstanceUid)).toEqual(['1.2.4']);
    expect(index.bySourcePath('/data/1.2.4')?.shape).toEqual([7, 128, 128]);
    index.close();
  });

  it('lists the studies of one scanner model, and adds the scanner column to an index made before it', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fedct-index-')), 'index.sqlite');
    // An index as the site agent wrote it before studies recorded their scanner model.
    const old = new Database(file);
    old.exec(`CREATE TABLE studies (series_uid TEXT PRIMARY KEY, study_uid TEXT, label TEXT NOT NULL, split TEXT NOT NULL, source_path TEXT NOT NULL,
      volume_sha TEXT NOT NULL, shape TEXT NOT NULL, spacing TEXT NOT NULL, source_slices INTEGER NOT NULL, warnings TEXT NOT NULL, imported_at TEXT NOT NULL)`);
    old.prepare("INSERT INTO studies VALUES ('1.1', NULL, 'cap', 'train', '/data/1.1', ?, '[4,8,8]', '[1,1,1]', 4, '[]', '2026-01-01T00:00:00.000Z')").run('b'.repeat(64));
    old.close();
    const index = new DatasetIndex(file);
    expect(index.get('1.1')?.scanner).toBe('');
    expect(index.scannerRecorded('1.1')).toBe(false);
    index.upsert(study('1.2'));
    index.upsert(study('1.5', { scanner: '' }));
    expect(index.scannerRecorded('1.2')).toBe(true);
    // A header that names no scanner is recorded as such, not as "not yet recorded".
    expect(index.scannerRecorded('1.5')).toBe(true);
    expect(index.scannerRecorded('9.9')).toBe(false);
    // Recording the old study's scanner model (what a re-import does).
    const old11 = index.get('1.1');
    if (!old11) throw new Error('study 1.1 lost in the migration');
    index.upsert({ ...old11, scanner: 'TOSHIBA Aquilion' });
    expect(index.scannerRecorded('1.1')).toBe(true);
    expect(index.list({ scanner: 'TOSHIBA Aquilion' }).map((s) => s.seriesInstanceUid)).toEqual(['1.1']);
    index.upsert({ ...old11, scanner: '' });
    index.upsert(study('1.3', { scanner: 'GE MEDICAL SYSTEMS LightSpeed VCT', split: 'test' }));
    index.upsert(study('1.4', { split: 'val' }));
    expect(index.list({ scanner: 'SIEMENS SOMATOM Definition AS' }).map((s) => s.seriesInstanceUid)).toEqual(['1.2', '1.4']);
    expect(index.list({ scanner: '' }).map((s) => s.seriesInstanceUid)).toEqual(['1.1', '1.5']);
    expect(index.list({ scanner: 'GE MEDICAL SYSTEMS LightSpeed VCT', split: 'val' })).toEqual([]);
    index.close();
  });

  it('keeps the unlabeled archive apart: never listed or counted as training data', () => {
    const index = new DatasetIndex(join(mkdtempSync(join(tmpdir(), 'fedct-index-')), 'index.sqlite'));
    index.upsert(study('2.1'));
    const { label: _label, split: _split, studyInstanceUid: _study, ...archived } = study('2.2', { sourcePath: '/archive/2.2' });
    expect(index.upsertArchive(archived)).toBe(true);
    expect(index.upsertArchive({ ...archived, scanner: 'GE MEDICAL SYSTEMS LightSpeed VCT' })).toBe(false);
    expect(index.list().map((s) => s.seriesInstanceUid)).toEqual(['2.1']);
    expect(index.counts().studies).toBe(1);
    expect(index.listArchive()).toEqual([{ ...archived, scanner: 'GE MEDICAL SYSTEMS LightSpeed VCT' }]);
    expect(index.listArchive({ scanner: 'SIEMENS SOMATOM Definition AS' })).toEqual([]);
    expect(index.archiveBySourcePath('/archive/2.2')?.seriesInstanceUid).toBe('2.2');
    expect(index.bySourcePath('/archive/2.2')).toBeNull();
    index.close();
  });

  it('remembers skipped paths until they import', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fedct-index-')), 'index.sqlite');
    const index = new DatasetIndex(file);
    index.recordSkipped('/data/1.2.9', 'not a DICOM file', '2026-01-01T00:00:00.000Z');
    expect(index.skipped()).toEqual([{ sourcePath: '/data/1.2.9', reason: 'not a DICOM file', at: '2026-01-01T00:00:00.000Z' }]);
    index.upsert(study('1.2.9'));
    expect(index.skipped()).toEqual([]);
    index.close();
    const again = new DatasetIndex(file);
    expect(again.list()).toHaveLength(1);
    again.close();
  });
});
