import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeModelBlob, encodeModelBlob, sha256Hex, type Task } from '@fedct/protocol';
import { enrollSite, initSiteFolder, memoryLogger, modelFile, SiteDaemon, SiteFolder, type DaemonEvents } from '@fedct/site-agent';
import { ToyEngine } from '@fedct/site-agent/testing';
import { ADMIN_TOKEN, startTestCoordinator, waitFor, waitForExperiment } from './helpers/coordinator-harness';
import { api, uploadModel } from '@fedct/site-agent/testing';

type Coordinator = Awaited<ReturnType<typeof startTestCoordinator>>;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** An enrolled site folder with `volumes` synthetic control studies (4 slices of 16 × 16, train split). */
async function enrolledSite(coordinator: Coordinator, name: string, seed: number, policy?: string): Promise<SiteFolder> {
  const dir = join(mkdtempSync(join(tmpdir(), 'fedct-site-pub-')), 'site');
  const site = initSiteFolder(dir, { name });
  let s = seed;
  for (let v = 0; v < 2; v++) {
    const data = new Float32Array(4 * 16 * 16).map(() => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return s / 2147483648;
    });
    const sha = site.volumes.put(data, [4, 16, 16], [1, 1, 1]);
    site.index.upsert({ seriesInstanceUid: `1.3.${seed}.${v}`, studyInstanceUid: null, label: 'control', split: 'train', sourcePath: `/nowhere/${v}`, volumeSha256: sha, shape: [4, 16, 16], spacingMm: [1, 1, 1], sourceSlices: 4, scanner: '', warnings: [], importedAt: new Date().toISOString() });
  }
  if (policy) writeFileSync(join(dir, 'policy.yaml'), policy);
  const { token } = await api<{ token: string }>(coordinator.url, '/api/enrollment-tokens', ADMIN_TOKEN, 'POST', { siteName: name });
  await enrollSite(site, { coordinatorUrl: coordinator.url, token });
  site.close();
  const reopened = SiteFolder.open(dir);
  cleanups.push(() => reopened.close());
  return reopened;
}

function startDaemon(site: SiteFolder, engine: ToyEngine): { daemon: SiteDaemon; site: SiteFolder; logger: ReturnType<typeof memoryLogger>; fetched: DaemonEvents['fetched'][]; tasks: Task[] } {
  const logger = memoryLogger();
  const daemon = new SiteDaemon({ site, engine, logger, heartbeatMs: 60_000 });
  const fetched: DaemonEvents['fetched'][] = [];
  const tasks: Task[] = [];
  daemon.on('fetched', (event: DaemonEvents['fetched']) => fetched.push(event));
  daemon.connection.on('task', (task) => tasks.push(task));
  cleanups.push(() => daemon.stop());
  void daemon.start();
  return { daemon, site, logger, fetched, tasks };
}

async function modelBytes(coordinator: Coordinator, version: string): Promise<Buffer> {
  const response = await fetch(`${coordinator.url}/api/models/${version}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return Buffer.from(await response.arrayBuffer());
}

describe('published models reach sites', () => {
  it('pushes the final model of an experiment to online sites, and to sites that connect later (unless their policy opts out)', async () => {
    const coordinator = await startTestCoordinator({ chunkSize: 8 * 1024 });
    cleanups.push(() => coordinator.dispose());
    const engine = new ToyEngine(20_000);
    const base = await uploadModel(coordinator.url, ADMIN_TOKEN, encodeModelBlob(engine.init(3, 'bcdunet')));

    const online = startDaemon(await enrolledSite(coordinator, 'hospital-online', 5), engine);
    await online.daemon.next('authenticated');
    const { id } = await api<{ id: string }>(coordinator.url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser', rounds: 2, minSites: 1, localEpochs: 1, learningRate: 0.5, initialModel: base.version, roundDeadlineSeconds: 60,
    });
    const done = await waitForExperiment(coordinator.url, id, (e) => e.status === 'completed', 30_000);
    const final = done.currentModel;
    if (!final) throw new Error('experiment published no model');
    const finalBytes = await modelBytes(coordinator, final);
    const finalSha = sha256Hex(finalBytes);
    expect(online.tasks.map((t) => t.round)).toEqual([1, 2]); // no later task brings round 2's model

    // The site that trained gets the last round's model through model.published and records it as latest.
    await waitFor(() => online.fetched.some((f) => f.version === final), 10_000, 'the final model to be fetched');
    const event = online.fetched.find((f) => f.version === final);
    expect(event).toEqual({ phase: 'denoiser', version: final, sha256: finalSha, experiment: id });
    const site = online.site;
    expect(site.latestModels().denoiser).toEqual({ version: final, sha256: finalSha });
    expect(readFileSync(modelFile(site.paths.models, finalSha)).equals(finalBytes)).toBe(true);
    expect(decodeModelBlob(new Uint8Array(finalBytes)).weights).toHaveLength(20_000);

    // A site that connects after the experiment ended learns the latest version from the auth reply.
    const late = startDaemon(await enrolledSite(coordinator, 'hospital-late', 6), engine);
    await waitFor(() => late.fetched.length > 0, 10_000, 'the late site to fetch the latest model');
    expect(late.fetched).toEqual([{ phase: 'denoiser', version: final, sha256: finalSha, experiment: id }]);
    const lateSite = late.site;
    expect(lateSite.latestModels()).toEqual({ denoiser: { version: final, sha256: finalSha }, classifier: null });
    expect(readFileSync(modelFile(lateSite.paths.models, finalSha)).equals(finalBytes)).toBe(true);

    // A site whose policy opts out is told, but downloads nothing.
    const optOut = startDaemon(await enrolledSite(coordinator, 'hospital-opt-out', 7, 'fetchPublishedModels: false\n'), engine);
    await optOut.daemon.next('authenticated');
    await waitFor(() => optOut.logger.events.some((e) => /fetchPublishedModels: false/.test(e.msg)), 5_000, 'the opt-out to be logged');
    expect(optOut.fetched).toEqual([]);
    expect(optOut.site.latestModels()).toEqual({ denoiser: null, classifier: null });
  });

  it('round 1 without an initial model: sites with different own sizes build from the experiment\'s modelConfig', async () => {
    const coordinator = await startTestCoordinator();
    cleanups.push(() => coordinator.dispose());
    // Two sites whose own "profiles" disagree (100 vs 200 weights); the experiment says 300.
    const a = startDaemon(await enrolledSite(coordinator, 'hospital-small', 8), new ToyEngine(100));
    const b = startDaemon(await enrolledSite(coordinator, 'hospital-large', 9), new ToyEngine(200));
    await Promise.all([a.daemon.next('authenticated'), b.daemon.next('authenticated')]);
    const { id } = await api<{ id: string }>(coordinator.url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser', rounds: 2, minSites: 2, localEpochs: 1, learningRate: 0.5, initSeed: 4, modelConfig: { size: 300 }, roundDeadlineSeconds: 60, maxRoundRetries: 0,
    });
    const done = await waitForExperiment(coordinator.url, id, (e) => e.status !== 'running', 30_000);
    expect(done.status).toBe('completed');
    expect(done.rounds[0]?.results.map((r) => r.status)).toEqual(['accepted', 'accepted']);
    const published = decodeModelBlob(new Uint8Array(await modelBytes(coordinator, done.currentModel ?? '')));
    expect(published.manifest.config).toEqual({ size: 300 });
    expect(published.weights).toHaveLength(300);
    // The sizes travel only in round 1's task; round 2 starts from the published model.
    expect(a.tasks.map((t) => [t.round, t.baseModel === null, t.modelConfig])).toEqual([
      [1, true, { size: 300 }],
      [2, false, undefined],
    ]);
  });

  it('without modelConfig, sites whose own sizes differ cannot agree (the second shape is rejected)', async () => {
    const coordinator = await startTestCoordinator();
    cleanups.push(() => coordinator.dispose());
    const a = startDaemon(await enrolledSite(coordinator, 'hospital-small', 10), new ToyEngine(100));
    const b = startDaemon(await enrolledSite(coordinator, 'hospital-large', 11), new ToyEngine(200));
    await Promise.all([a.daemon.next('authenticated'), b.daemon.next('authenticated')]);
    const { id } = await api<{ id: string }>(coordinator.url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser', rounds: 1, minSites: 2, localEpochs: 1, learningRate: 0.5, roundDeadlineSeconds: 60, maxRoundRetries: 0,
    });
    const done = await waitForExperiment(coordinator.url, id, (e) => e.status !== 'running', 30_000);
    expect(done.status).toBe('failed');
    const results = done.rounds[0]?.results ?? [];
    expect(results.map((r) => r.status).sort()).toEqual(['accepted', 'rejected']);
    expect(results.find((r) => r.status === 'rejected')?.reason).toMatch(/shapes differ/);
  });
});
