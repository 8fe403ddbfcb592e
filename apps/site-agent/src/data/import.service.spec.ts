import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { generatePhantomStudy, preprocessPath, writePhantomDicom } from '@fedct/pipeline';
import { initSiteFolder } from '../site/site-folder';
import { memoryLogger } from '../util/logger';
import { autoSplit, importStudies } from './import.service';
import { discoverStudies } from './study-discovery';

const REAL_SERIES = resolve(__dirname, '..', '..', '..', '..', '..', 'shared', 'data', 'ct', 'lung-pet-ct-dx-A0002-8mm');
const haveReal = existsSync(REAL_SERIES);
if (!haveReal) console.warn(`skipping real-CT import test: ${REAL_SERIES} is absent`);

function corruptStudy(root: string): string {
  const dir = join(root, 'corrupt-study');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '1.dcm'), Buffer.from('this is not a DICOM file at all'.repeat(20)));
  writeFileSync(join(dir, '2.dcm'), Buffer.alloc(300, 7));
  return dir;
}

describe(discoverStudies.name, () => {
  it('groups each folder\'s files into one study, each NIfTI file into one, and leaves licences out', () => {
    const root = mkdtempSync(join(tmpdir(), 'fedct-discover-'));
    mkdirSync(join(root, 'a', 'b'), { recursive: true });
    writeFileSync(join(root, 'a', '1.dcm'), '');
    writeFileSync(join(root, 'a', 'LICENSE'), '');
    writeFileSync(join(root, 'a', 'b', 'IM0001'), '');
    writeFileSync(join(root, 'a', 'b', 'IM0002'), '');
    writeFileSync(join(root, 'ct.nii.gz'), '');
    writeFileSync(join(root, '.hidden'), '');
    expect(discoverStudies(root).map((c) => [c.sourcePath.slice(root.length), c.kind, c.files.length])).toEqual([
      ['/a', 'dicom', 1],
      ['/a/b', 'dicom', 2],
      ['/ct.nii.gz', 'nifti', 1],
    ]);
  });
});

describe(importStudies.name, () => {
  it('skips and reports a corrupt study, keeps nothing of it, and goes on', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fedct-import-'));
    const site = initSiteFolder(join(root, 'site'));
    const logger = memoryLogger();
    const summary = await importStudies(site, corruptStudy(root), { label: 'control', split: 'train', logger });
    expect(summary.imported).toBe(0);
    expect(summary.skipped).toHaveLength(1);
    expect(summary.skipped[0]?.reason.length).toBeGreaterThan(5);
    expect(summary.skipped[0]?.reason).not.toContain('\n');
    expect(site.index.skipped()).toHaveLength(1);
    expect(logger.events.some((e) => e.level === 'warn' && e.msg === 'study skipped')).toBe(true);
    site.close();
  });

  it('reads a folder of symbolic links to a series and a symbolic link to a series folder like the real files, and ends a link loop', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fedct-links-'));
    const real = join(root, 'real');
    await writePhantomDicom(generatePhantomStudy({ cls: 'cap', seed: 3, scanner: 'tiny', slices: 6 }), real);
    // A PACS export: one link per file, and a link back up that would loop.
    const links = join(root, 'export', 'links');
    mkdirSync(links, { recursive: true });
    for (const f of readdirSync(real)) symlinkSync(join(real, f), join(links, f));
    symlinkSync(join(root, 'export'), join(links, 'loop'));
    symlinkSync(real, join(root, 'linked-folder'));
    const expected = await preprocessPath(real);
    for (const path of [links, join(root, 'linked-folder')]) {
      const volume = await preprocessPath(path);
      expect(volume.shape).toEqual(expected.shape);
      expect(volume.data).toEqual(expected.data);
    }
    const site = initSiteFolder(join(root, 'site'));
    const viaLinks = await importStudies(site, join(root, 'export'), { label: 'cap', split: 'train', logger: memoryLogger() });
    expect([viaLinks.imported, viaLinks.skipped.length]).toEqual([1, 0]);
    const viaFolder = await importStudies(site, join(root, 'linked-folder'), { label: 'cap', split: 'train', logger: memoryLogger() });
    expect([viaFolder.imported, viaFolder.alreadyPresent]).toEqual([0, 1]);
    expect(site.volumes.get(site.index.list()[0]?.volumeSha256 ?? '').data).toEqual(expected.data);
    site.close();
  });

  it.runIf(haveReal)('imports a real series through a symlink once, idempotently, reading it in place', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fedct-import-'));
    const site = initSiteFolder(join(root, 'site'));
    const incoming = join(root, 'incoming');
    mkdirSync(incoming);
    symlinkSync(REAL_SERIES, join(incoming, 'patient-a0002'));
    corruptStudy(incoming);
    const first = await importStudies(site, incoming, { label: 'covid-19', split: 'val', logger: memoryLogger() });
    expect(first.candidates).toBe(2);
    expect(first.imported).toBe(1);
    expect(first.skipped.map((s) => s.path)).toEqual([join(incoming, 'corrupt-study')]);
    const [study] = site.index.list();
    expect(study?.label).toBe('covid-19');
    expect(study?.split).toBe('val');
    expect(study?.sourceSlices).toBe(30);
    // Manufacturer (0008,0070) and model name (0008,1090) of the real files.
    expect(study?.scanner).toBe('SIEMENS Sensation 10');
    expect(study?.shape.slice(1)).toEqual([128, 128]);
    // 30 slices 8 mm apart resample to about 233 slices of 1 mm.
    expect(study?.shape[0]).toBeGreaterThan(220);
    expect(first.slices).toBe(study?.shape[0]);
    const cached = site.volumes.get(study?.volumeSha256 ?? '');
    let min = Infinity;
    let max = -Infinity;
    for (const v of cached.data) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThanOrEqual(1);
    expect(max).toBeGreaterThan(0.5);

    // The same source again: not read again (an interrupted import resumes this way).
    const again = await importStudies(site, join(incoming, 'patient-a0002'), { label: 'covid-19', split: 'val', logger: memoryLogger() });
    expect([again.imported, again.alreadyPresent]).toEqual([0, 1]);
    // The same series through another path: read, recognised by its SeriesInstanceUID, still one study.
    const other = await importStudies(site, REAL_SERIES, { label: 'covid-19', split: 'val', logger: memoryLogger() });
    expect([other.imported, other.alreadyPresent]).toEqual([0, 1]);
    expect(site.index.counts().studies).toBe(1);

    // An index from before scanner models were recorded (the column NULL): a re-import reads the
    // source once more to record it, and then no more.
    site.close();
    const raw = new Database(join(root, 'site', 'index.sqlite'));
    const columns = 'series_uid, study_uid, label, split, source_path, volume_sha, shape, spacing, source_slices, warnings, imported_at';
    raw.exec(`CREATE TABLE legacy (series_uid TEXT PRIMARY KEY, study_uid TEXT, label TEXT NOT NULL, split TEXT NOT NULL, source_path TEXT NOT NULL,
        volume_sha TEXT NOT NULL, shape TEXT NOT NULL, spacing TEXT NOT NULL, source_slices INTEGER NOT NULL, warnings TEXT NOT NULL, imported_at TEXT NOT NULL);
      INSERT INTO legacy (${columns}) SELECT ${columns} FROM studies; DROP TABLE studies; ALTER TABLE legacy RENAME TO studies`);
    raw.close();
    expect(site.index.list()[0]?.scanner).toBe('');
    const details: string[] = [];
    const progress = { start: () => undefined, update: (_: number, detail?: string) => details.push(detail ?? ''), stop: () => undefined };
    // The index now names the last path the series came from.
    expect(site.index.bySourcePath(REAL_SERIES)).not.toBeNull();
    const legacy = await importStudies(site, REAL_SERIES, { label: 'covid-19', split: 'val', logger: memoryLogger(), progress });
    expect([legacy.imported, legacy.alreadyPresent]).toEqual([0, 1]);
    expect(site.index.list()[0]?.scanner).toBe('SIEMENS Sensation 10');
    expect(site.index.counts().studies).toBe(1);
    const after = await importStudies(site, REAL_SERIES, { label: 'covid-19', split: 'val', logger: memoryLogger(), progress });
    expect([after.imported, after.alreadyPresent]).toEqual([0, 1]);
    // Read (it reports its slices) the first time, skipped unread the second.
    expect(details).toEqual([`${study?.shape[0]} slices`, 'already imported']);
    site.close();
  });
});

describe(autoSplit.name, () => {
  it('is stable and roughly 70/15/15', () => {
    const counts = { train: 0, val: 0, test: 0 };
    for (let i = 0; i < 2000; i++) counts[autoSplit(`1.2.840.${i}`)] += 1;
    expect(autoSplit('1.2.3')).toBe(autoSplit('1.2.3'));
    expect(counts.train / 2000).toBeGreaterThan(0.65);
    expect(counts.train / 2000).toBeLessThan(0.75);
    expect(counts.val / 2000).toBeGreaterThan(0.11);
    expect(counts.test / 2000).toBeGreaterThan(0.11);
  });
});
