import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { calibrateClassifier, createBcduNet, createCnn3d, generatePhantomStudy, getModelBlob, initBackend, writePhantomDicom } from '@fedct/pipeline';
import { CLASS_NAMES, encodeModelBlob, evaluationCounts, sha256Hex, type ClassName, type ModelBlob } from '@fedct/protocol';
import { createLogger, importStudies, initSiteFolder, MIN_CALIBRATION_STUDIES, memoryLogger, PipelineEngine, predictStudy, scannerVolumes, SiteFolder, siteArchive, type LoadedModel } from '@fedct/site-agent';

const REAL_SERIES = resolve(__dirname, '..', '..', 'shared', 'data', 'ct', 'lung-pet-ct-dx-A0002-8mm');
const BIN = resolve(__dirname, '..', 'apps', 'site-agent', 'bin', 'fedct-site.js');

/** Small untrained networks with the paper's structure (the contract does not depend on training). */
function smallModels(): { denoiser: ModelBlob; classifier: ModelBlob } {
  const bcdu = { size: 32, base: 4 };
  const cnn = { inputShape: [10, 32, 32] as [number, number, number], filters: [2, 4], denseUnits: 4, dropout: 0, classes: 3 };
  const denoiser = getModelBlob(createBcduNet(bcdu, { seed: 1 }), 'bcdunet', bcdu);
  const classifier = getModelBlob(createCnn3d(cnn, { seed: 2 }), 'cnn3d', cnn);
  return { denoiser, classifier };
}

describe(predictStudy.name, () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('classifies a phantom study and draws the infection overlay', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fedct-predict-'));
    await writePhantomDicom(generatePhantomStudy({ cls: 'covid-19', seed: 5, scanner: 'tiny' }), join(root, 'study'));
    const { denoiser, classifier } = smallModels();
    const engine = new PipelineEngine({ profile: 'test', backend: 'auto', logger: createLogger({ level: 'error' }) });
    const result = await predictStudy({
      path: join(root, 'study'),
      engine,
      denoiser: { blob: denoiser, sha256: sha256Hex(encodeModelBlob(denoiser)), version: 'v1' },
      classifier: { blob: classifier, sha256: sha256Hex(encodeModelBlob(classifier)), version: 'v2' },
      outDir: join(root, 'out'),
      keepVolumes: true,
    });
    expect(CLASS_NAMES).toContain(result.prediction);
    const p = result.probabilities;
    expect(p.control + p.cap + p['covid-19']).toBeCloseTo(1, 5);
    expect(Math.max(p.control, p.cap, p['covid-19'])).toBe(p[result.prediction]);
    expect(result.model).toMatchObject({ version: 'v2', denoiser: { version: 'v1' } });
    expect(result.timingMs.total).toBeGreaterThan(0);
    expect(result.study.modelReadyShape.slice(1)).toEqual([128, 128]);
    // keepVolumes: the model-ready volume and the infection map the classifier saw (for the viewer).
    const volumes = result.volumes;
    if (!volumes) throw new Error('keepVolumes gave no volumes');
    expect(volumes.modelReady.shape).toEqual(result.study.modelReadyShape);
    expect(volumes.modelReady.data).toHaveLength(volumes.modelReady.shape.reduce((a, b) => a * b, 1));
    expect(volumes.infection.shape[0]).toBe(10); // the classifier's input depth
    expect(volumes.infection.data).toHaveLength(volumes.infection.shape.reduce((a, b) => a * b, 1));
    for (let axis = 0; axis < 3; axis++) {
      const extent = (volumes.modelReady.spacingMm[axis] ?? 0) * (volumes.modelReady.shape[axis] ?? 0);
      expect((volumes.infection.spacingMm[axis] ?? 0) * (volumes.infection.shape[axis] ?? 0)).toBeCloseTo(extent, 4);
    }
    expect(volumes.seriesDescription).toMatch(/phantom/);
    const png = PNG.sync.read(readFileSync(result.picture ?? ''));
    expect(png.height).toBe(256);
    expect(png.width).toBeGreaterThanOrEqual(4 * 256);
  });

  it('gives a BatchNorm classifier site-local statistics from the site\'s own studies of the study\'s scanner model', { timeout: 120_000 }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'fedct-predict-bn-'));
    const site = initSiteFolder(join(root, 'site'));
    const engine = new PipelineEngine({ profile: 'test', backend: 'auto', logger: createLogger({ level: 'error' }) });
    try {
      // The site's archive: MIN_CALIBRATION_STUDIES studies of the "tiny" phantom scanner over two splits, one GE study.
      const write = async (dir: string, cls: ClassName, seed: number, scanner: string): Promise<unknown> =>
        writePhantomDicom(generatePhantomStudy({ cls, seed, scanner, slices: 12 }), join(root, dir, `s${seed}`));
      for (let i = 0; i < MIN_CALIBRATION_STUDIES; i++) await write(i % 2 ? 'train' : 'val', CLASS_NAMES[i % 3]!, 100 + i, 'tiny');
      await write('ge', 'cap', 200, 'ge-lightspeed');
      const logger = memoryLogger();
      await importStudies(site, join(root, 'train'), { label: 'control', split: 'train', logger });
      await importStudies(site, join(root, 'val'), { label: 'cap', split: 'val', logger });
      await importStudies(site, join(root, 'ge'), { label: 'cap', split: 'train', logger });
      expect(site.index.list({ scanner: 'FEDCT Phantom Tiny' })).toHaveLength(MIN_CALIBRATION_STUDIES);
      expect(site.index.list({ scanner: 'GE MEDICAL SYSTEMS LightSpeed VCT' })).toHaveLength(1);

      const bcdu = { size: 32, base: 4 };
      const cnn = { inputShape: [10, 32, 32] as [number, number, number], filters: [2, 4], denseUnits: 4, dropout: 0, classes: 3, batchNorm: true };
      const loaded = (blob: ModelBlob, version: string): LoadedModel => ({ blob, sha256: sha256Hex(encodeModelBlob(blob)), version });
      const denoiser = loaded(getModelBlob(createBcduNet(bcdu, { seed: 1 }), 'bcdunet', bcdu), 'v1');
      const classifier = loaded(getModelBlob(createCnn3d(cnn, { seed: 2 }), 'cnn3d', cnn), 'v2');
      await write('new', 'covid-19', 300, 'tiny');
      await write('new', 'covid-19', 301, 'ge-lightspeed');
      const archive = siteArchive(site, engine);
      // At most `limit` studies, each volume once.
      expect(await scannerVolumes(site, engine, denoiser, 'FEDCT Phantom Tiny', { depth: 10, size: 32 }, 5)).toHaveLength(5);

      const calibrated = await predictStudy({ path: join(root, 'new', 's300'), engine, denoiser, classifier, archive });
      expect(calibrated.calibration).toEqual({ scanner: 'FEDCT Phantom Tiny', studies: MIN_CALIBRATION_STUDIES });
      expect(calibrated.timingMs.calibrate).toBeGreaterThan(0);
      // Independent: the infection maps of exactly those studies, straight from the volume cache, and the pipeline's calibration.
      const maps = [];
      for (const study of site.index.list().filter((s) => s.scanner === 'FEDCT Phantom Tiny')) {
        const v = site.volumes.get(study.volumeSha256);
        maps.push(await engine.extractInfection({ denoiser: denoiser.blob, volume: v.data, shape: v.header.shape as [number, number, number], depth: 10, size: 32 }));
      }
      const expected = await predictStudy({ path: join(root, 'new', 's300'), engine, denoiser, classifier: loaded(await calibrateClassifier({ weights: classifier.blob, volumes: maps }), 'v2') });
      const plain = await predictStudy({ path: join(root, 'new', 's300'), engine, denoiser, classifier });
      for (const k of CLASS_NAMES) expect(calibrated.probabilities[k]).toBeCloseTo(expected.probabilities[k], 5);
      const moved = Math.max(...CLASS_NAMES.map((k) => Math.abs(plain.probabilities[k] - calibrated.probabilities[k])));
      expect(moved).toBeGreaterThan(1e-4);
      // Without the site folder, and for a scanner model the site has too few studies of: the model's own statistics, said in a warning.
      expect(plain.calibration).toBeNull();
      expect(plain.warnings.join('\n')).toMatch(/no site folder: the classifier used the federation's averaged BatchNorm statistics/);
      const ge = await predictStudy({ path: join(root, 'new', 's301'), engine, denoiser, classifier, archive });
      expect(ge.calibration).toBeNull();
      expect(ge.warnings.join('\n')).toMatch(new RegExp(`only 1 of this site's studies come from GE MEDICAL SYSTEMS LightSpeed VCT \\(site-local statistics need ${MIN_CALIBRATION_STUDIES}`));
      // A classifier without BatchNorm is never calibrated and warns of nothing.
      const { classifier: noBn } = smallModels();
      const simple = await predictStudy({ path: join(root, 'new', 's300'), engine, denoiser, classifier: loaded(noBn, 'v3'), archive });
      expect(simple.calibration).toBeNull();
      expect(simple.warnings.join('\n')).not.toMatch(/BatchNorm/);
    } finally {
      site.close();
      engine.dispose();
    }
  });

  it('calibrates from the unlabeled archive of a hospital that does not train (fedct-site import --archive)', { timeout: 120_000 }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'fedct-predict-archive-'));
    const dir = join(root, 'site');
    const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, FEDCT_SITE_DIR: '' } });
    expect(cli('init', dir).status).toBe(0);
    for (let i = 0; i < MIN_CALIBRATION_STUDIES; i++) {
      await writePhantomDicom(generatePhantomStudy({ cls: CLASS_NAMES[i % 3]!, seed: 400 + i, scanner: 'tiny', slices: 12 }), join(root, 'archive', `s${i}`));
    }
    const imported = cli('import', join(root, 'archive'), '--archive', '--site', dir, '--json');
    expect(imported.status).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ label: 'archive', imported: MIN_CALIBRATION_STUDIES, skipped: [] });
    // Again: nothing new.
    expect(JSON.parse(cli('import', join(root, 'archive'), '--archive', '--site', dir, '--json').stdout)).toMatchObject({ imported: 0, alreadyPresent: MIN_CALIBRATION_STUDIES });
    const data = JSON.parse(cli('data', '--site', dir, '--json').stdout) as { counts: { studies: number }; archive: { scanner: string }[] };
    expect(data.counts.studies).toBe(0);
    expect(data.archive.map((a) => a.scanner)).toEqual(new Array(MIN_CALIBRATION_STUDIES).fill('FEDCT Phantom Tiny'));

    const bcdu = { size: 32, base: 4 };
    const cnn = { inputShape: [10, 32, 32] as [number, number, number], filters: [2, 4], denseUnits: 4, dropout: 0, classes: 3, batchNorm: true };
    const denoiserBlob = getModelBlob(createBcduNet(bcdu, { seed: 3 }), 'bcdunet', bcdu);
    const denoiser = { blob: denoiserBlob, sha256: sha256Hex(encodeModelBlob(denoiserBlob)), version: 'v1' };
    const classifierBlob = getModelBlob(createCnn3d(cnn, { seed: 4 }), 'cnn3d', cnn);
    writeFileSync(join(root, 'bcdunet.fctm'), encodeModelBlob(denoiserBlob));
    writeFileSync(join(root, 'cnn3d.fctm'), encodeModelBlob(classifierBlob));
    writeFileSync(join(root, 'plain.fctm'), encodeModelBlob(smallModels().classifier));
    // No BatchNorm: nothing to prepare.
    const plain = cli('calibrate', '--site', dir, '--model', join(root, 'plain.fctm'), '--denoiser', join(root, 'bcdunet.fctm'), '--json');
    expect(plain.status).toBe(0);
    expect(JSON.parse(plain.stdout)).toMatchObject({ batchNorm: false, scanners: [], unnamed: 0 });
    const maps = join(dir, 'cache', 'infection', denoiser.sha256);
    expect(existsSync(maps)).toBe(false);
    // `fedct-site calibrate` extracts the archive's maps at the classifier's size ahead of any prediction.
    const prepared = cli('calibrate', '--site', dir, '--model', join(root, 'cnn3d.fctm'), '--denoiser', join(root, 'bcdunet.fctm'), '--json');
    expect(prepared.status).toBe(0);
    expect(JSON.parse(prepared.stdout)).toMatchObject({
      batchNorm: true, scanners: [{ scanner: 'FEDCT Phantom Tiny', studies: MIN_CALIBRATION_STUDIES, calibrates: true }], unnamed: 0,
      denoiser: { sha256: denoiser.sha256 }, classifier: { version: 'file:cnn3d.fctm' },
    });
    expect(readdirSync(maps).filter((f) => f.endsWith('.d10.s32.f32'))).toHaveLength(MIN_CALIBRATION_STUDIES);

    const site = SiteFolder.open(dir);
    const engine = new PipelineEngine({ profile: 'test', backend: 'auto', logger: createLogger({ level: 'error' }) });
    try {
      await writePhantomDicom(generatePhantomStudy({ cls: 'cap', seed: 500, scanner: 'tiny', slices: 12 }), join(root, 'new'));
      const result = await predictStudy({ path: join(root, 'new'), engine, denoiser, classifier: { blob: classifierBlob, sha256: 'x', version: 'v2' }, archive: siteArchive(site, engine) });
      expect(result.calibration).toEqual({ scanner: 'FEDCT Phantom Tiny', studies: MIN_CALIBRATION_STUDIES });
      // Independent: the archive's volumes straight from the cache, the pipeline's calibration.
      const maps = [];
      for (const a of site.index.listArchive()) {
        const v = site.volumes.get(a.volumeSha256);
        maps.push(await engine.extractInfection({ denoiser: denoiserBlob, volume: v.data, shape: v.header.shape as [number, number, number], depth: 10, size: 32 }));
      }
      const expected = await predictStudy({ path: join(root, 'new'), engine, denoiser, classifier: { blob: await calibrateClassifier({ weights: classifierBlob, volumes: maps }), sha256: 'y', version: 'v2' } });
      for (const k of CLASS_NAMES) expect(result.probabilities[k]).toBeCloseTo(expected.probabilities[k], 5);
    } finally {
      site.close();
      engine.dispose();
    }
  });

  it('shows the newest federated evaluation of the model at this site, or that it was never evaluated here', { timeout: 120_000 }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'fedct-predict-eval-'));
    const dir = join(root, 'site');
    initSiteFolder(dir).close();
    await writePhantomDicom(generatePhantomStudy({ cls: 'covid-19', seed: 7, scanner: 'tiny', slices: 12 }), join(root, 'study'));
    const { denoiser, classifier } = smallModels();
    writeFileSync(join(root, 'bcdunet.fctm'), encodeModelBlob(denoiser));
    writeFileSync(join(root, 'cnn3d.fctm'), encodeModelBlob(classifier));
    const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, 'predict', join(root, 'study'), '--site', dir, '--model', join(root, 'cnn3d.fctm'), '--denoiser', join(root, 'bcdunet.fctm'), ...args], { encoding: 'utf8', env: { ...process.env, FEDCT_SITE_DIR: '' } });
    // Never evaluated: null, and the text says so.
    const before = cli('--json');
    expect(before.status).toBe(0);
    expect(JSON.parse(before.stdout)).toMatchObject({ evaluation: null });
    expect(cli().stdout).toMatch(/never evaluated at this site/);
    // Ten studies (control, covid-19, cap by index): eight right, the two last CAP read as control; Covid scores separate perfectly.
    const labels = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2];
    const probabilities = labels.map((t, i) => (t === 1 ? [0.1, 0.8, 0.1] : i >= 8 ? [0.6, 0.1, 0.3] : t === 0 ? [0.8, 0.05, 0.15] : [0.2, 0.05, 0.75]));
    const site = SiteFolder.open(dir);
    const sha = sha256Hex(encodeModelBlob(classifier));
    const record = (evaluation: string, at: string, counts: ReturnType<typeof evaluationCounts>) =>
      site.index.recordEvaluation({ evaluation, classifierSha256: sha, classifierVersion: 'v', denoiserSha256: sha256Hex(encodeModelBlob(denoiser)), split: 'val', counts, at });
    record('eval-old', '2026-01-01T00:00:00.000Z', evaluationCounts([0], [[1, 0, 0]]));
    record('eval-new', '2026-02-01T00:00:00.000Z', evaluationCounts(labels, probabilities));
    site.close();
    const after = cli('--json');
    expect(after.status).toBe(0);
    const figures = (JSON.parse(after.stdout) as { evaluation: Record<string, unknown> & { accuracyCi: number[] } }).evaluation;
    // Hand-computed: 8/10, Wilson 95 % interval 0.4902-0.9433 (Newcombe 1998); Covid AUC 1 with perfect separation.
    expect(figures).toMatchObject({ evaluation: 'eval-new', split: 'val', n: 10, accuracy: 0.8, aucCovid: 1, sameDenoiser: true });
    expect(figures.accuracyCi[0]).toBeCloseTo(0.4902, 4);
    expect(figures.accuracyCi[1]).toBeCloseTo(0.9433, 4);
    expect(cli().stdout).toMatch(/at this site: accuracy 80 % \(95 % CI 49 %–94 %\), Covid AUC 1\.00 on 10 val studies, 2026-02-01/);
    // Without a site folder nothing is known about the model here.
    const bare = spawnSync(process.execPath, [BIN, 'predict', join(root, 'study'), '--site', join(root, 'nowhere'), '--model', join(root, 'cnn3d.fctm'), '--denoiser', join(root, 'bcdunet.fctm')], { encoding: 'utf8', env: { ...process.env, FEDCT_SITE_DIR: '' } });
    expect(bare.stdout).toMatch(/no site folder: this model's accuracy at this site is not known/);
  });

  it.runIf(existsSync(REAL_SERIES))('prints the contract JSON for the real series from the command line', () => {
    const root = mkdtempSync(join(tmpdir(), 'fedct-predict-cli-'));
    const { denoiser, classifier } = smallModels();
    writeFileSync(join(root, 'bcdunet.fctm'), encodeModelBlob(denoiser));
    writeFileSync(join(root, 'cnn3d.fctm'), encodeModelBlob(classifier));
    const run = spawnSync(process.execPath, [BIN, 'predict', REAL_SERIES, '--json', '--model', join(root, 'cnn3d.fctm'), '--denoiser', join(root, 'bcdunet.fctm'), '--out', join(root, 'out'), '--site', root], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout) as { prediction: string; probabilities: Record<string, number>; model: { version: string; sha256: string }; timingMs: Record<string, number>; picture: string };
    expect(Object.keys(out.probabilities).sort()).toEqual([...CLASS_NAMES].sort());
    expect(out).not.toHaveProperty('volumes');
    expect(out.model.sha256).toBe(sha256Hex(encodeModelBlob(classifier)));
    expect(out.model.version).toBe('file:cnn3d.fctm');
    expect(out.timingMs.total).toBeGreaterThan(0);
    expect(existsSync(out.picture)).toBe(true);
  });
});
