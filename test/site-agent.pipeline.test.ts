import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generatePhantomStudy, writePhantomDicom } from '@fedct/pipeline';
import { decodeModelBlob, sha256Hex, type ClassName } from '@fedct/protocol';
import { createPipelineEngine, enrollSite, importStudies, initSiteFolder, memoryLogger, predictStudy, SiteDaemon } from '@fedct/site-agent';
import { ADMIN_TOKEN, startTestCoordinator, waitForExperiment } from './helpers/coordinator-harness';
import { api } from '@fedct/site-agent/testing';


const cleanups: (() => Promise<void> | void)[] = [];
let debugEvents: unknown[] = [];
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') for (const e of debugEvents) console.log(JSON.stringify(e));
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function fetchModel(url: string, version: string): Promise<Uint8Array> {
  const response = await fetch(`${url}/api/models/${version}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(response.status).toBe(200);
  return new Uint8Array(await response.arrayBuffer());
}

describe('site agent with the real networks', () => {
  it('imports phantom studies, trains a denoiser round and a classifier round, then predicts with the published models', { timeout: 150_000 }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'fedct-pipeline-e2e-'));
    const site = initSiteFolder(join(root, 'site'), { name: 'hospital-p', profile: 'tiny' });
    cleanups.push(() => site.close());
    const logger = memoryLogger();
    debugEvents = logger.events;
    const t0 = Date.now();
    logger.info('test start', { t: 0 });
    const studies: [ClassName, ClassName, 'train' | 'val'][] = [
      ['control', 'control', 'train'],
      ['cap', 'cap', 'train'],
      ['covid-19', 'covid-19', 'train'],
      ['control', 'control', 'val'],
    ];
    for (const [i, [cls, label, split]] of studies.entries()) {
      const dir = join(root, 'incoming', `${split}-${label}-${i}`);
      await writePhantomDicom(generatePhantomStudy({ cls, seed: 100 + i, scanner: 'tiny' }), dir);
      const summary = await importStudies(site, dir, { label, split, logger });
      expect(summary.imported).toBe(1);
    }
    expect(site.index.counts()).toMatchObject({ studies: 4, byLabel: { control: 2, cap: 1, 'covid-19': 1 }, bySplit: { train: 3, val: 1 } });

    logger.info('imported', { t: Date.now() - t0 });
    const coordinator = await startTestCoordinator();
    cleanups.push(() => coordinator.dispose());
    const { token } = await api<{ token: string }>(coordinator.url, '/api/enrollment-tokens', ADMIN_TOKEN, 'POST', { siteName: 'hospital-p' });
    await enrollSite(site, { coordinatorUrl: coordinator.url, token });
    const engine = createPipelineEngine({ profile: 'tiny', backend: 'auto', logger });
    cleanups.push(() => engine.dispose());
    const daemon = new SiteDaemon({ site, engine, logger, heartbeatMs: 60_000 });
    cleanups.push(() => daemon.stop());
    void daemon.start();
    await daemon.next('authenticated');

    // Phase 1: the denoiser, from the shared seed (no initial model).
    let submitted = daemon.next('submitted');
    const denoiserExp = await api<{ id: string }>(coordinator.url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser', rounds: 1, minSites: 1, localEpochs: 1, batchSize: 16, learningRate: 1e-3, initSeed: 3, roundDeadlineSeconds: 300,
    });
    const denoiserRound = await submitted;
    expect(denoiserRound.metrics.loss).toBeGreaterThan(0);
    expect(denoiserRound.metrics.val_mse).toBeGreaterThanOrEqual(0);
    const denoiserDone = await waitForExperiment(coordinator.url, denoiserExp.id, (e) => e.status === 'completed', 60_000);
    const denoiserVersion = denoiserDone.currentModel ?? '';
    const denoiserBlob = decodeModelBlob(await fetchModel(coordinator.url, denoiserVersion));
    expect(denoiserBlob.manifest).toMatchObject({ model: 'bcdunet', config: { size: 32, base: 4 } });
    // The control train slices: one phantom of about 230 slices of 1 mm.
    expect(denoiserDone.rounds[0]?.metrics.samples).toBe(site.index.list({ label: 'control', split: 'train' })[0]?.shape[0]);

    // Phase 2: the classifier on infection volumes from the frozen global denoiser, at half its size
    // (the maps averaged down to 16 × 16; the task's modelConfig, not the tiny profile's sizes).
    submitted = daemon.next('submitted');
    const modelConfig = { inputShape: [8, 16, 16], filters: [2, 2], denseUnits: 4, dropout: 0.3, classes: 3 };
    const classifierExp = await api<{ id: string }>(coordinator.url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'classifier', rounds: 1, minSites: 1, localEpochs: 2, batchSize: 2, learningRate: 1e-3, initSeed: 4, roundDeadlineSeconds: 300, denoiserModel: denoiserVersion, modelConfig,
    });
    const classifierRound = await submitted;
    expect(classifierRound.metrics.val_accuracy).toBeGreaterThanOrEqual(0);
    const classifierDone = await waitForExperiment(coordinator.url, classifierExp.id, (e) => e.status === 'completed', 60_000);
    expect(classifierDone.rounds[0]?.metrics.samples).toBe(3);
    const denoiserSha = sha256Hex(await fetchModel(coordinator.url, denoiserVersion));
    const cached = readdirSync(join(site.paths.infection, denoiserSha)).filter((n) => n.endsWith('.f32'));
    expect(cached).toHaveLength(4); // 3 train + 1 val infection volumes, cached for this denoiser
    cached.forEach((name) => expect(name).toMatch(/\.d8\.s16\.f32$/));
    for (const name of cached) expect(statSync(join(site.paths.infection, denoiserSha, name)).size).toBe(8 * 16 * 16 * 4);
    expect(site.latestModels().denoiser).toEqual({ version: denoiserVersion, sha256: denoiserSha });

    // A clinician's prediction with the published models.
    const classifierBytes = await fetchModel(coordinator.url, classifierDone.currentModel ?? '');
    const result = await predictStudy({
      path: join(root, 'incoming', 'train-covid-19-2'),
      engine,
      denoiser: { blob: denoiserBlob, sha256: denoiserSha, version: denoiserVersion },
      classifier: { blob: decodeModelBlob(classifierBytes), sha256: sha256Hex(classifierBytes), version: classifierDone.currentModel ?? '' },
      outDir: join(root, 'pictures'),
    });
    expect(decodeModelBlob(classifierBytes).manifest.config).toMatchObject({ inputShape: [8, 16, 16] });
    expect(result.probabilities.control + result.probabilities.cap + result.probabilities['covid-19']).toBeCloseTo(1, 5);
    expect(existsSync(result.picture ?? '')).toBe(true);
  });
});
