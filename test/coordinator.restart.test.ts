import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeModelBlob, encodeModelBlob, evaluationCounts, sumCounts, summarizeEvaluation, type EvaluationView } from '@fedct/protocol';
import { ADMIN_TOKEN, waitFor, waitForExperiment } from './helpers/coordinator-harness';
import { SimSite, api, simulatedTraining, toyModel, uploadModel } from '@fedct/site-agent/testing';

const BIN = resolve(__dirname, '..', 'apps', 'coordinator', 'bin', 'fedct-coordinator.js');

/** Starts the real CLI and resolves with the URL it prints. */
function startProcess(config: string, port = 0): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'start', '--config', config], {
    env: { ...process.env, FEDCT_PORT: String(port), FEDCT_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolvePromise, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const match = /^fedct-coordinator listening on (http:\/\/\S+)$/.exec(line);
      if (match) resolvePromise({ child, url: match[1]! });
    });
    child.once('exit', (code) => reject(new Error(`coordinator exited with ${code}: ${stderr}`)));
  });
}

describe('coordinator restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedct-restart-'));
  let child: ChildProcess | null = null;
  afterAll(() => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('is killed in the middle of a round, restarts, resumes the round and finishes the experiment', async () => {
    const config = join(dir, 'coordinator.yaml');
    writeFileSync(config, `host: 127.0.0.1\ndataDir: ${join(dir, 'data')}\nadminToken: ${ADMIN_TOKEN}\nschedulerIntervalMs: 100\n`);
    let { child: first, url } = await startProcess(config);
    child = first;
    const initial = toyModel(30_000);
    const v1 = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(initial));
    const a = await SimSite.enroll(url, ADMIN_TOKEN, 'a', 0.1, { autopilot: false, sampleCount: 1 });
    const b = await SimSite.enroll(url, ADMIN_TOKEN, 'b', 0.4, { autopilot: false, sampleCount: 3 });
    for (const s of [a, b]) expect((await s.connect()).ok).toBe(true);
    const { id } = await api<{ id: string }>(url, '/api/experiments', ADMIN_TOKEN, 'POST', { phase: 'denoiser', rounds: 2, minSites: 2, roundDeadlineSeconds: 60, initialModel: v1.version });

    // Round 1 runs normally.
    await waitFor(() => a.tasks.length === 1 && b.tasks.length === 1, 10_000, 'round 1 tasks');
    for (const s of [a, b]) expect(await s.upload(s.tasks[0]!, s.sealUpdate(s.tasks[0]!, await s.train(s.tasks[0]!)))).toMatchObject({ ok: true });
    await waitFor(() => a.tasks.length === 2 && b.tasks.length === 2, 10_000, 'round 2 tasks');
    const before = await api<{ version: string; sha256: string }[]>(url, '/api/models', ADMIN_TOKEN);
    expect(before.map((m) => m.version)).toEqual(['v1', 'v2']);

    // Round 2: a is accepted, b is half-way through its upload, then the coordinator is killed.
    const t2 = a.tasks[1]!;
    expect(await a.upload(t2, a.sealUpdate(t2, await a.train(t2)))).toMatchObject({ ok: true });
    const tb = b.tasks[1]!;
    const sealedB = b.sealUpdate(tb, await b.train(tb));
    expect(await b.upload(tb, sealedB, { stopAfterChunks: 1, chunkSize: 16_384 })).toBeNull();
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    a.disconnect();
    b.disconnect();

    ({ child: first, url } = await startProcess(config));
    child = first;
    const after = await api<{ version: string; sha256: string }[]>(url, '/api/models', ADMIN_TOKEN);
    expect(after).toEqual(before);
    for (const s of [a, b]) expect((await s.connect(url)).ok).toBe(true);
    expect(await a.resume()).toBeNull(); // already accepted before the crash
    expect((await b.resume())?.round).toBe(2);
    expect(await b.upload(tb, sealedB, { chunkSize: 16_384 })).toMatchObject({ ok: true });

    const done = await waitForExperiment(url, id, (e) => e.status === 'completed');
    expect(done.rounds.map((r) => r.state)).toEqual(['published', 'published']);
    // Weighted mean delta per round: (0.1·1 + 0.4·3) / 4 = 0.325; a's round-2 update was re-folded from the spool.
    const expected = simulatedTraining(simulatedTraining(initial.weights, 0.325), 0.325);
    const response = await fetch(`${url}/api/models/${done.currentModel}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const final = decodeModelBlob(new Uint8Array(await response.arrayBuffer())).weights;
    let maxError = 0;
    for (let i = 0; i < final.length; i++) maxError = Math.max(maxError, Math.abs(final[i]! - expected[i]!));
    expect(maxError).toBeLessThan(1e-5);
    const audit = await api<{ event: string }[]>(url, '/api/audit?event=round.resumed', ADMIN_TOKEN);
    expect(audit).toHaveLength(1);
    expect((await api<{ ok: boolean }>(url, '/api/audit/verify', ADMIN_TOKEN)).ok).toBe(true);
    a.disconnect();
    b.disconnect();
  });

  it('is killed during a federated evaluation and completes it after the restart with nothing lost', async () => {
    const config = join(dir, 'coordinator-eval.yaml');
    writeFileSync(config, `host: 127.0.0.1\ndataDir: ${join(dir, 'data-eval')}\nadminToken: ${ADMIN_TOKEN}\nschedulerIntervalMs: 100\n`);
    let { child: first, url } = await startProcess(config);
    child = first;
    const d = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(toyModel(64, 1)), 'denoiser');
    const c = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(toyModel(64, 2)), 'classifier');
    const a = await SimSite.enroll(url, ADMIN_TOKEN, 'a', 0, { autopilot: false });
    const b = await SimSite.enroll(url, ADMIN_TOKEN, 'b', 0, { autopilot: false });
    for (const s of [a, b]) expect((await s.connect()).ok).toBe(true);
    const { id } = await api<{ id: string }>(url, '/api/evaluations', ADMIN_TOKEN, 'POST', { classifierVersion: c.version, denoiserVersion: d.version, split: 'val', deadlineSeconds: 60 });
    await waitFor(() => a.tasks.length === 1 && b.tasks.length === 1, 10_000, 'the evaluation tasks');
    const countsA = evaluationCounts([0, 1, 2], [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]]);
    expect(await a.submitEvaluation(a.tasks[0]!, countsA)).toMatchObject({ ok: true });
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    a.disconnect();
    b.disconnect();

    ({ child: first, url } = await startProcess(config));
    child = first;
    for (const s of [a, b]) expect((await s.connect(url)).ok).toBe(true);
    expect(await a.resume()).toBeNull(); // its result was stored before the crash
    const resumed = await b.resume();
    expect(resumed?.kind).toBe('evaluate');
    const countsB = evaluationCounts([1, 1], [[0.1, 0.8, 0.1], [0.6, 0.3, 0.1]]);
    expect(await b.submitEvaluation(resumed!, countsB)).toMatchObject({ ok: true });
    let view = await api<EvaluationView>(url, `/api/evaluations/${id}`, ADMIN_TOKEN);
    for (let i = 0; i < 100 && view.status !== 'completed'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      view = await api<EvaluationView>(url, `/api/evaluations/${id}`, ADMIN_TOKEN);
    }
    expect(view.status).toBe('completed');
    expect(view.sites.map((s) => s.status)).toEqual(['accepted', 'accepted']);
    expect(view.sites.find((s) => s.siteId === a.siteId)?.summary).toEqual(summarizeEvaluation(countsA));
    expect(view.pooled).toEqual(summarizeEvaluation(sumCounts([countsA, countsB])));
    a.disconnect();
    b.disconnect();
  });
});
