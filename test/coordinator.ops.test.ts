import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_NAMESPACE, encodeModelBlob, type RoundEvent, type SiteEvent } from '@fedct/protocol';
import { io } from 'socket.io-client';
import { ADMIN_TOKEN, READ_TOKEN, startTestCoordinator, waitFor, waitForExperiment } from './helpers/coordinator-harness';
import { SimSite, api, toyModel, uploadModel } from '@fedct/site-agent/testing';

type Coordinator = Awaited<ReturnType<typeof startTestCoordinator>>;
let coordinator: Coordinator | null = null;
const cleanup: (() => void)[] = [];

afterEach(async () => {
  for (const c of cleanup.splice(0)) c();
  await coordinator?.dispose();
  coordinator = null;
});

describe('coordinator operations', () => {
  it('serves health, Prometheus metrics and the OpenAPI document', async () => {
    coordinator = await startTestCoordinator();
    const { url } = coordinator;
    expect(await (await fetch(`${url}/api/health`)).json()).toMatchObject({ status: 'ok', sitesOnline: 0 });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    for (const name of ['fedct_rounds_total', 'fedct_sites_online', 'fedct_bytes_in_total', 'fedct_bytes_out_total', 'fedct_updates_rejected_total', 'process_resident_memory_bytes']) {
      expect(metrics).toContain(`# TYPE ${name}`);
    }
    const docs = await (await fetch(`${url}/api/docs-json`)).json() as { paths: Record<string, unknown> };
    expect(Object.keys(docs.paths)).toEqual(expect.arrayContaining(['/api/enrollment-tokens', '/api/enroll', '/api/sites', '/api/experiments', '/api/experiments/{id}', '/api/models', '/api/models/{version}']));
    expect((await fetch(`${url}/api/docs`)).status).toBe(200);
  });

  it('pushes round and site events on /admin to holders of a token only', async () => {
    coordinator = await startTestCoordinator();
    const { url } = coordinator;
    const refused = io(`${url}${ADMIN_NAMESPACE}`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: 'wrong-token-wrong-token' } });
    cleanup.push(() => refused.disconnect());
    const error = await new Promise<Error>((r) => refused.once('connect_error', r));
    expect(error.message).toMatch(/unauthorized/);
    const admin = io(`${url}${ADMIN_NAMESPACE}`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: READ_TOKEN } });
    cleanup.push(() => admin.disconnect());
    const rounds: RoundEvent[] = [];
    const siteEvents: SiteEvent[] = [];
    admin.on('round', (e: RoundEvent) => rounds.push(e));
    admin.on('site', (e: SiteEvent) => siteEvents.push(e));
    await new Promise<void>((r) => admin.once('connect', () => r()));
    const v1 = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(toyModel(100)));
    const site = await SimSite.enroll(url, ADMIN_TOKEN, 'watched', 0.1);
    cleanup.push(() => site.disconnect());
    await site.connect();
    const { id } = await api<{ id: string }>(url, '/api/experiments', ADMIN_TOKEN, 'POST', { phase: 'denoiser', rounds: 1, minSites: 1, initialModel: v1.version });
    await waitForExperiment(url, id, (e) => e.status === 'completed');
    await waitFor(() => rounds.some((r) => r.state === 'published'), 5000, 'published event');
    expect(rounds.map((r) => r.state)).toEqual(expect.arrayContaining(['training', 'aggregating', 'published']));
    expect(rounds.find((r) => r.state === 'published')).toMatchObject({ experiment: id, round: 1, modelVersion: 'v2', accepted: 1 });
    expect(siteEvents.map((e) => e.event)).toEqual(expect.arrayContaining(['enrolled', 'online', 'heartbeat', 'update_accepted']));
    const listed = await api<{ id: string; backend: string; gpu: boolean; datasets: Record<string, number>; online: boolean }[]>(url, '/api/sites', READ_TOKEN);
    expect(listed[0]).toMatchObject({ id: site.siteId, backend: 'cpu', gpu: false, datasets: { control: 3, covid: 2, cap: 1 }, online: true });
  });

  it('limits the request rate per token and the socket message size', async () => {
    coordinator = await startTestCoordinator({ limits: { requestsPerMinute: 5, maxMessageBytes: 200_000, maxConcurrentUploads: 1, maxUpdateBytes: 10_000_000, maxRoundBytes: 1e9, maxModelBytes: 1e7 } });
    const { url } = coordinator;
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await fetch(`${url}/api/sites`, { headers: { authorization: `Bearer ${READ_TOKEN}` } })).status);
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
    // The admin token has its own bucket.
    const site = await SimSite.enroll(url, ADMIN_TOKEN, 'big', 0.1, { autopilot: false });
    cleanup.push(() => site.disconnect());
    await site.connect();
    const dropped = new Promise<void>((r) => site.socket!.once('disconnect', () => r()));
    site.socket!.emit('heartbeat', { backend: 'cpu', gpu: false, datasets: {}, agentVersion: 'x'.repeat(300_000) }, () => undefined);
    await dropped;
  });

  it('answers busy beyond the concurrent-upload limit and too_large beyond the update size', async () => {
    coordinator = await startTestCoordinator({ limits: { maxConcurrentUploads: 1, maxUpdateBytes: 50_000, maxMessageBytes: 2 * 1024 * 1024, maxRoundBytes: 1e9, requestsPerMinute: 1000, maxModelBytes: 1e7 } });
    const { url } = coordinator;
    const v1 = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(toyModel(1000)));
    const first = await SimSite.enroll(url, ADMIN_TOKEN, 'first', 0.1, { autopilot: false });
    const second = await SimSite.enroll(url, ADMIN_TOKEN, 'second', 0.2, { autopilot: false });
    cleanup.push(() => first.disconnect(), () => second.disconnect());
    await first.connect();
    await second.connect();
    await api(url, '/api/experiments', ADMIN_TOKEN, 'POST', { phase: 'denoiser', rounds: 1, minSites: 2, initialModel: v1.version });
    await waitFor(() => first.tasks.length === 1 && second.tasks.length === 1, 5000, 'tasks');
    const t1 = first.tasks[0]!;
    const t2 = second.tasks[0]!;
    expect(await first.upload(t1, first.sealUpdate(t1, await first.train(t1)), { stopAfterChunks: 0, chunkSize: 1024 })).toBeNull();
    expect(await second.upload(t2, second.sealUpdate(t2, await second.train(t2)), { chunkSize: 1024 })).toMatchObject({ ok: false, code: 'busy' });
    const big = { manifest: { model: 'toy', config: {}, tensors: [{ name: 'w', shape: [20_000] }] }, weights: new Float32Array(20_000) };
    expect(await first.upload(t1, first.sealUpdate(t1, big))).toMatchObject({ ok: false, code: 'too_large' });
  });

  it('serves HTTPS and WSS when a certificate is configured', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedct-tls-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    } catch {
      throw new Error('openssl is needed to make a test certificate');
    }
    coordinator = await startTestCoordinator({ tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } });
    expect(coordinator.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = readFileSync(join(dir, 'cert.pem'), 'utf8');
    const admin = io(`${coordinator.url}${ADMIN_NAMESPACE}`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: ADMIN_TOKEN }, ca });
    cleanup.push(() => admin.disconnect());
    await new Promise<void>((resolve, reject) => {
      admin.once('connect', () => resolve());
      admin.once('connect_error', reject);
    });
    const untrusted = io(`${coordinator.url}${ADMIN_NAMESPACE}`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: ADMIN_TOKEN } });
    cleanup.push(() => untrusted.disconnect());
    const error = await new Promise<Error>((r) => untrusted.once('connect_error', r));
    expect(String(error.message)).toMatch(/websocket error|certificate/i);
  });
});
