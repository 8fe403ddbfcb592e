import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { splitIntoChunks } from '@fedct/crypto';
import { encodeModelBlob } from '@fedct/protocol';
import { ADMIN_TOKEN, startTestCoordinator, waitFor, waitForExperiment } from './helpers/coordinator-harness';
import { SimSite, api, toyModel, uploadModel } from '@fedct/site-agent/testing';

type Coordinator = Awaited<ReturnType<typeof startTestCoordinator>>;
let coordinator: Coordinator | null = null;
const sites: SimSite[] = [];

afterEach(async () => {
  for (const s of sites.splice(0)) s.disconnect();
  await coordinator?.dispose();
  coordinator = null;
});

async function site(url: string, name: string, delta: number, autopilot = true): Promise<SimSite> {
  const s = await SimSite.enroll(url, ADMIN_TOKEN, name, delta, { autopilot, sampleCount: 10 });
  expect((await s.connect()).ok).toBe(true);
  sites.push(s);
  return s;
}

/** A coordinator with one single-site round open and the site's sealed update for it, not yet uploaded. */
async function oneRoundWithSealedUpdate(name: string) {
  coordinator = await startTestCoordinator();
  const { url } = coordinator;
  const v1 = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(toyModel(20_000)));
  const s = await site(url, name, 0.25, false);
  const { id } = await api<{ id: string }>(url, '/api/experiments', ADMIN_TOKEN, 'POST', { phase: 'denoiser', rounds: 1, minSites: 1, roundDeadlineSeconds: 20, initialModel: v1.version });
  await waitFor(() => s.tasks.length === 1, 5000, 'task');
  const task = s.tasks[0]!;
  const sealed = s.sealUpdate(task, await s.train(task));
  return { url, id, s, task, sealed };
}

describe('coordinator resilience', () => {
  it('publishes with quorum when a site disconnects mid-round, and the site rejoins the next round', async () => {
    coordinator = await startTestCoordinator();
    const { url } = coordinator;
    const v1 = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(toyModel(5000)));
    for (const [name, delta] of [['a', 0.1], ['b', 0.2]] as const) {
      const s = await site(url, name, delta);
      // 300 ms of "training" so a round lasts long enough for the flaky site to come back.
      s.onTask = async (t) => {
        await new Promise((r) => setTimeout(r, 300));
        await s.trainAndUpload(t);
      };
    }
    const flaky = await site(url, 'flaky', 0.3, false);
    const { id } = await api<{ id: string }>(url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser',
      rounds: 3,
      minSites: 2,
      roundDeadlineSeconds: 1.5,
      initialModel: v1.version,
    });
    await waitFor(() => flaky.tasks.length === 1, 5000, 'flaky task');
    const task = flaky.tasks[0]!;
    // The flaky site starts its upload, sends two chunks, and its connection drops.
    expect(await flaky.upload(task, flaky.sealUpdate(task, await flaky.train(task)), { stopAfterChunks: 2, chunkSize: 4096 })).toBeNull();
    flaky.disconnect();
    const afterRound1 = await waitForExperiment(url, id, (e) => e.rounds[0]?.state === 'published');
    const r1 = afterRound1.rounds[0]!;
    expect(r1.results.find((r) => r.siteId === flaky.siteId)?.status).toBe('dropped');
    expect(r1.results.filter((r) => r.status === 'accepted')).toHaveLength(2);
    // It comes back with its agent running again and is invited to a later round.
    (flaky.options as { autopilot?: boolean }).autopilot = true;
    expect((await flaky.connect()).ok).toBe(true);
    await flaky.resume();
    const done = await waitForExperiment(url, id, (e) => e.status === 'completed');
    const later = done.rounds.slice(1).filter((r) => r.participants.includes(flaky.siteId));
    expect(later.length).toBeGreaterThan(0);
    for (const r of later) expect(r.results.find((x) => x.siteId === flaky.siteId)?.status).toBe('accepted');
    expect(done.rounds.map((r) => r.state)).toEqual(['published', 'published', 'published']);
    // The flaky site's unfinished round-1 upload was dropped with its round (its spool file recycled).
    expect(readdirSync(join(coordinator.dataDir, 'uploads')).filter((name) => name !== 'recycled')).toEqual([]);
  });

  it('resumes an interrupted upload from the first missing chunk', async () => {
    const { url, id, s, task, sealed } = await oneRoundWithSealedUpdate('resumer');
    expect(await s.upload(task, sealed, { stopAfterChunks: 5, chunkSize: 8192 })).toBeNull();
    s.disconnect();
    expect((await s.connect()).ok).toBe(true);
    expect((await s.resume())?.round).toBe(1);
    const begin = await s.socket!.timeout(5000).emitWithAck('update.begin', { experiment: id, round: 1, manifest: splitIntoChunks(sealed, 8192).manifest });
    expect(begin).toMatchObject({ ok: true, data: { nextIndex: 5 } });
    expect(await s.upload(task, sealed, { chunkSize: 8192 })).toMatchObject({ ok: true, data: { accepted: true } });
    await waitForExperiment(url, id, (e) => e.status === 'completed');
  });

  it('refuses a chunk whose upload ended while its hash was computed, instead of writing it', async () => {
    const { url, id, s, sealed } = await oneRoundWithSealedUpdate('late');
    const { manifest, chunks } = splitIntoChunks(sealed, 8192);
    const begin = await s.socket!.timeout(5000).emitWithAck('update.begin', { experiment: id, round: 1, manifest });
    expect(begin.ok).toBe(true);
    if (!begin.ok) return;
    // The coordinator hashes chunks with WebCrypto (in this process): hold the first hash back.
    const real = webcrypto.subtle.digest.bind(webcrypto.subtle);
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const digest = vi.spyOn(webcrypto.subtle, 'digest').mockImplementationOnce(async (algorithm, data) => {
      await held;
      return real(algorithm, data);
    });
    try {
      const reply = s.socket!.timeout(5000).emitWithAck('update.chunk', { uploadId: begin.data.uploadId, index: 0, bytes: chunks[0]! });
      await waitFor(() => digest.mock.calls.length === 1, 5000, 'the chunk hash to start');
      // The round ends meanwhile: its uploads are discarded and their spool files recycled.
      await api(url, `/api/experiments/${id}/abort`, ADMIN_TOKEN, 'POST', { reason: 'test' });
      release();
      expect(await reply).toMatchObject({ ok: false, code: 'not_found' });
    } finally {
      digest.mockRestore();
    }
  });

  it('fails a round without quorum, retries, and stops the experiment after the allowed retries', async () => {
    coordinator = await startTestCoordinator();
    const { url } = coordinator;
    const v1 = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(toyModel(100)));
    const silent = await site(url, 'silent', 0, false);
    const { id } = await api<{ id: string }>(url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser',
      rounds: 3,
      minSites: 1,
      roundDeadlineSeconds: 0.3,
      maxRoundRetries: 1,
      initialModel: v1.version,
    });
    const done = await waitForExperiment(url, id, (e) => e.status === 'failed');
    expect(done.rounds.map((r) => r.state)).toEqual(['failed', 'failed']);
    expect(done.rounds[0]!.reason).toMatch(/quorum not met: 0 of 1/);
    expect(done.currentModel).toBe('v1');
    expect(silent.cancels.length).toBe(2);
  });

  it('starts round 1 from the sites\' seeded init when there is no initial model', async () => {
    coordinator = await startTestCoordinator();
    const { url } = coordinator;
    await site(url, 'x', 0.5);
    await site(url, 'y', 1.5);
    const { id } = await api<{ id: string }>(url, '/api/experiments', ADMIN_TOKEN, 'POST', { phase: 'denoiser', rounds: 2, minSites: 2, roundDeadlineSeconds: 10, initSeed: 7 });
    const done = await waitForExperiment(url, id, (e) => e.status === 'completed');
    expect(sites[0]!.tasks[0]!.baseModel).toBeNull();
    expect(sites[0]!.tasks[0]!.initSeed).toBe(7);
    expect(sites[0]!.tasks[1]!.baseModel?.version).toBe('v1');
    const models = await api<{ version: string; parent: string | null }[]>(url, '/api/models', ADMIN_TOKEN);
    expect(models).toMatchObject([{ version: 'v1', parent: null }, { version: 'v2', parent: 'v1' }]);
    expect(done.currentModel).toBe('v2');
  });

  it('pauses between rounds, resumes, and aborts', async () => {
    coordinator = await startTestCoordinator();
    const { url } = coordinator;
    const v1 = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(toyModel(100)));
    const s = await site(url, 'p', 0.1, false);
    const { id } = await api<{ id: string }>(url, '/api/experiments', ADMIN_TOKEN, 'POST', { phase: 'denoiser', rounds: 5, minSites: 1, roundDeadlineSeconds: 30, initialModel: v1.version });
    await waitFor(() => s.tasks.length === 1, 5000, 'task');
    await api(url, `/api/experiments/${id}/pause`, ADMIN_TOKEN, 'POST', {});
    await s.trainAndUpload(s.tasks[0]!);
    const paused = await waitForExperiment(url, id, (e) => e.rounds[0]?.state === 'published');
    expect(paused.status).toBe('paused');
    await new Promise((r) => setTimeout(r, 300));
    expect(s.tasks).toHaveLength(1);
    await api(url, `/api/experiments/${id}/resume`, ADMIN_TOKEN, 'POST', {});
    await waitFor(() => s.tasks.length === 2, 5000, 'round 2 task');
    await api(url, `/api/experiments/${id}/abort`, ADMIN_TOKEN, 'POST', { reason: 'enough' });
    const aborted = await waitForExperiment(url, id, (e) => e.status === 'aborted');
    expect(aborted.rounds[1]!.state).toBe('failed');
    await waitFor(() => s.cancels.length === 1, 5000, 'cancel');
  });
});
