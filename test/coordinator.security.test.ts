import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, toBase64 } from '@fedct/crypto';
import { encodeModelBlob, taskSchema, type Reply, type Task } from '@fedct/protocol';
import { io } from 'socket.io-client';
import { ADMIN_TOKEN, READ_TOKEN, startTestCoordinator, waitFor, waitForExperiment } from './helpers/coordinator-harness';
import { SimSite, api, simulatedTraining, toyModel, uploadModel } from '@fedct/site-agent/testing';

type Coordinator = Awaited<ReturnType<typeof startTestCoordinator>>;

interface AuditEntry {
  seq: number;
  event: string;
  actor: string;
  detail: Record<string, unknown>;
}

describe('coordinator security', () => {
  let coordinator: Coordinator;
  let url: string;
  let honest: SimSite;
  let attacker: SimSite;
  let task: Task;
  let experiment: string;

  beforeAll(async () => {
    coordinator = await startTestCoordinator();
    url = coordinator.url;
    const v1 = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(toyModel(2000)));
    honest = await SimSite.enroll(url, ADMIN_TOKEN, 'honest', 0.5, { autopilot: false, seed: 11 });
    attacker = await SimSite.enroll(url, ADMIN_TOKEN, 'attacker', 0.1, { autopilot: false, seed: 12 });
    expect((await honest.connect()).ok).toBe(true);
    expect((await attacker.connect()).ok).toBe(true);
    ({ id: experiment } = await api<{ id: string }>(url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser',
      rounds: 1,
      minSites: 1,
      roundDeadlineSeconds: 30,
      initialModel: v1.version,
      normBound: 100,
      flipAugment: true,
    }));
    await waitFor(() => honest.tasks.length > 0 && attacker.tasks.length > 0, 10_000, 'tasks');
    task = honest.tasks[0]!;
  });

  afterAll(async () => {
    honest.disconnect();
    attacker.disconnect();
    await coordinator.dispose();
  });

  async function rejections(): Promise<AuditEntry[]> {
    return api<AuditEntry[]>(url, '/api/audit?event=update.rejected', ADMIN_TOKEN);
  }

  it('sends the task with the base model, hyper-parameters and deadline', () => {
    expect(taskSchema.parse(task)).toEqual(task);
    expect(task.experiment).toBe(experiment);
    expect(task.round).toBe(1);
    expect(task.baseModel?.version).toBe('v1');
    expect(task.hyper).toMatchObject({ localEpochs: 1, batchSize: 4, secureAgg: false, dp: { required: false }, flipAugment: true });
    expect(task.hyper.classBalanced).toBeUndefined();
    expect(Date.parse(task.deadline)).toBeGreaterThan(Date.now());
  });

  it('rejects an update signed by another key (forged) and one claiming another site', async () => {
    const blob = await attacker.train(task);
    const forged = attacker.sealUpdate(task, blob, {}, generateIdentity().signing.secretKey);
    const reply = await attacker.upload(task, forged);
    expect(reply).toMatchObject({ ok: false, code: 'rejected_envelope' });
    const impersonating = attacker.sealUpdate(task, blob, { site: honest.siteId });
    expect(await attacker.upload(task, impersonating)).toMatchObject({ ok: false, code: 'rejected_site' });
  });

  it('rejects a wrong-round update and a wrong-base-model update', async () => {
    const blob = await attacker.train(task);
    expect(await attacker.upload(task, attacker.sealUpdate(task, blob, { round: 7 }))).toMatchObject({ ok: false, code: 'rejected_round' });
    expect(await attacker.upload(task, attacker.sealUpdate(task, blob, { baseModelSha256: 'a'.repeat(64) }))).toMatchObject({ ok: false, code: 'rejected_base_model' });
  });

  it('refuses an upload for a round the site is not in, and chunks that do not match the manifest', async () => {
    const { manifest } = await import('@fedct/crypto').then((c) => c.splitIntoChunks(new Uint8Array(10)));
    const wrongRound = await attacker.socket!.timeout(5000).emitWithAck('update.begin', { experiment, round: 9, manifest });
    expect(wrongRound).toMatchObject({ ok: false, code: 'round_closed' });
    const begin = await attacker.socket!.timeout(5000).emitWithAck('update.begin', { experiment, round: 1, manifest });
    expect(begin.ok).toBe(true);
    if (!begin.ok) return;
    const bad = await attacker.socket!.timeout(5000).emitWithAck('update.chunk', { uploadId: begin.data.uploadId, index: 0, bytes: new Uint8Array(10).fill(1) });
    expect(bad).toMatchObject({ ok: false, code: 'bad_chunk' });
  });

  it('rejects wrong-shape and over-norm updates and audits every rejection', async () => {
    const honestTask = honest.tasks[0]!;
    const blob = await honest.train(honestTask);
    const shape = { manifest: { ...blob.manifest, tensors: [{ name: 'w', shape: [blob.weights.length] }] }, weights: blob.weights };
    expect(await attacker.upload(task, attacker.sealUpdate(task, shape))).toMatchObject({ ok: false, code: 'rejected_shape' });
    const huge = { manifest: blob.manifest, weights: simulatedTraining(blob.weights, 50) };
    const hugeReply = await honest.upload(honestTask, honest.sealUpdate(honestTask, huge));
    expect(hugeReply).toMatchObject({ ok: false, code: 'rejected_norm' });
    const codes = (await rejections()).map((e) => e.detail.code);
    expect(codes).toEqual(expect.arrayContaining(['rejected_envelope', 'rejected_site', 'rejected_round', 'rejected_base_model', 'rejected_shape', 'rejected_norm']));
  });

  it('rejects a replayed envelope and a NaN update, and publishes without them', async () => {
    const v = (await api<{ version: string }[]>(url, '/api/models', ADMIN_TOKEN))[0]!.version;
    const { id } = await api<{ id: string }>(url, '/api/experiments', ADMIN_TOKEN, 'POST', { phase: 'denoiser', rounds: 2, minSites: 1, roundDeadlineSeconds: 10, initialModel: v });
    const taskFor = (site: SimSite, round: number) => site.tasks.find((t) => t.experiment === id && t.round === round);
    await waitFor(() => !!taskFor(honest, 1) && !!taskFor(attacker, 1), 10_000, 'round 1 tasks');
    const t1 = taskFor(honest, 1)!;
    const a1 = taskFor(attacker, 1)!;
    const sealed = honest.sealUpdate(t1, await honest.train(t1));
    expect(await honest.upload(t1, sealed)).toMatchObject({ ok: true });
    const bad = await attacker.train(a1);
    bad.weights[3] = Number.NaN;
    expect(await attacker.upload(a1, attacker.sealUpdate(a1, bad))).toMatchObject({ ok: false, code: 'rejected_non_finite' });
    // Round 1 closes (everyone reported); in round 2 the round-1 envelope is replayed.
    await waitFor(() => !!taskFor(honest, 2) && !!taskFor(attacker, 2), 10_000, 'round 2 tasks');
    const t2 = taskFor(honest, 2)!;
    expect(await honest.upload(t2, sealed)).toMatchObject({ ok: false, code: 'rejected_replay' });
    expect(await attacker.socket!.timeout(5000).emitWithAck('task.fail', { experiment: id, round: 2, reason: 'out of memory' })).toMatchObject({ ok: true });
    expect(await honest.upload(t2, honest.sealUpdate(t2, await honest.train(t2)))).toMatchObject({ ok: true });
    const done = await waitForExperiment(url, id, (e) => e.status === 'completed');
    const [r1, r2] = done.rounds;
    expect(r1!.results.find((r) => r.siteId === honest.siteId)?.status).toBe('accepted');
    expect(r1!.results.find((r) => r.siteId === attacker.siteId)?.status).toBe('rejected');
    expect(r2!.results.find((r) => r.siteId === attacker.siteId)).toMatchObject({ status: 'failed', reason: 'out of memory' });
    const codes = (await rejections()).map((e) => e.detail.code);
    expect(codes).toEqual(expect.arrayContaining(['rejected_replay', 'rejected_non_finite']));
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/fedct_updates_rejected_total\{code="rejected_replay"\} 1/);
  });

  it('refuses an unenrolled key, a wrong signature and an unanswered challenge', async () => {
    const stranger = generateIdentity();
    const reply = await honest.connect(url, 'site-doesnotexist', stranger);
    expect(reply).toMatchObject({ ok: false, code: 'unknown_site' });
    const wrongKey = await honest.connect(url, attacker.siteId, stranger);
    expect(wrongKey).toMatchObject({ ok: false, code: 'bad_signature' });
    const raw = io(`${url}/sites`, { transports: ['websocket'], forceNew: true, reconnection: false });
    await new Promise<void>((r) => raw.once('connect', () => r()));
    const early = (await raw.timeout(5000).emitWithAck('task.current', {})) as Reply<unknown>;
    expect(early).toMatchObject({ ok: false, code: 'unauthenticated' });
    const noChallenge = (await raw.timeout(5000).emitWithAck('auth', { siteId: honest.siteId, signature: toBase64(new Uint8Array(64)) })) as Reply<unknown>;
    expect(noChallenge).toMatchObject({ ok: false, code: 'expired_challenge' });
    raw.disconnect();
    expect((await honest.connect(url)).ok).toBe(true);
  });

  it('disconnects a revoked site at once and refuses it afterwards', async () => {
    expect((await attacker.connect(url)).ok).toBe(true);
    const { id: third } = await api<{ id: string }>(url, '/api/experiments', ADMIN_TOKEN, 'POST', { phase: 'denoiser', rounds: 1, minSites: 2, roundDeadlineSeconds: 30, initialModel: 'v1' });
    await waitFor(() => attacker.tasks.some((t) => t.experiment === third), 5000, 'third task');
    const disconnected = new Promise<void>((r) => attacker.socket!.once('disconnect', () => r()));
    await api(url, `/api/sites/${attacker.siteId}/revoke`, ADMIN_TOKEN, 'POST', { reason: 'sent bad updates' });
    await disconnected;
    expect(attacker.revokedReason).toBe('sent bad updates');
    expect(await attacker.connect(url)).toMatchObject({ ok: false, code: 'revoked' });
    const site = await api<{ revokedAt: string | null; online: boolean }>(url, `/api/sites/${attacker.siteId}`, READ_TOKEN);
    expect(site.revokedAt).not.toBeNull();
    expect(site.online).toBe(false);
    // The open round stops waiting for the revoked site.
    const open = await api<{ rounds: { results: { siteId: string; status: string; reason: string | null }[] }[] }>(url, `/api/experiments/${third}`, READ_TOKEN);
    expect(open.rounds[0]!.results.find((r) => r.siteId === attacker.siteId)).toMatchObject({ status: 'dropped', reason: 'site revoked: sent bad updates' });
  });

  it('enforces admin and read-only tokens and one-time enrolment tokens', async () => {
    await expect(api(url, '/api/sites', null)).rejects.toThrow(/401/);
    await expect(api(url, '/api/enrollment-tokens', READ_TOKEN, 'POST', { siteName: 'x' })).rejects.toThrow(/403/);
    const { token } = await api<{ token: string }>(url, '/api/enrollment-tokens', ADMIN_TOKEN, 'POST', { siteName: 'once' });
    const keys = generateIdentity();
    const body = { token, signingPublicKey: toBase64(keys.signing.publicKey), boxPublicKey: toBase64(keys.box.publicKey) };
    await api(url, '/api/enroll', null, 'POST', body);
    await expect(api(url, '/api/enroll', null, 'POST', { ...body, signingPublicKey: toBase64(generateIdentity().signing.publicKey) })).rejects.toThrow(/already used/);
    const short = await api<{ token: string }>(url, '/api/enrollment-tokens', ADMIN_TOKEN, 'POST', { siteName: 'late', ttlSeconds: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    await expect(api(url, '/api/enroll', null, 'POST', { ...body, token: short.token, signingPublicKey: toBase64(generateIdentity().signing.publicKey) })).rejects.toThrow(/expired/);
  });

  it('keeps an intact audit hash chain that the database refuses to rewrite', async () => {
    const verdict = await api<{ ok: boolean; entries: number }>(url, '/api/audit/verify', READ_TOKEN);
    expect(verdict.ok).toBe(true);
    expect(verdict.entries).toBeGreaterThan(10);
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(`${coordinator.dataDir}/coordinator.sqlite`);
    expect(() => db.prepare("UPDATE audit SET actor = 'nobody' WHERE seq = 2").run()).toThrow(/append-only/);
    db.close();
  });
});
