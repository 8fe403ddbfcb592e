/*
 * Federated evaluation end to end: real site daemons (with the exactly predictable ToyEngine) and a
 * simulated site on one coordinator. A classifier is measured on the sites' own studies; the stored
 * per-site counts must equal what each site computes, the pooled figures those of the summed counts,
 * every interval must hold its point estimate, a site whose policy refuses the split is reported as
 * refused, nothing but aggregate counts leaves a site, and bad results are refused and audited.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLASS_INDEX, encodeModelBlob, evaluationCounts, sumCounts, summarizeEvaluation, type EvaluationCounts, type EvaluationSummary, type EvaluationView, type ModelBlob } from '@fedct/protocol';
import { enrollSite, initSiteFolder, memoryLogger, SiteDaemon, SiteFolder, type Label, type TrainingEngine } from '@fedct/site-agent';
import { SimSite, ToyEngine, api, uploadModel } from '@fedct/site-agent/testing';
import { ADMIN_TOKEN, startTestCoordinator, waitFor } from './helpers/coordinator-harness';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const LABELS: Label[] = ['control', 'covid-19', 'cap'];

/** A site folder with labelled studies of 4 × 16 × 16 in `split`; `bias` shifts the values so sites differ. */
function siteWithStudies(name: string, split: 'val' | 'test', perClass: number[], bias: number, seed: number): { dir: string; volumes: { data: Float32Array; label: Label }[] } {
  const dir = join(mkdtempSync(join(tmpdir(), 'fedct-eval-')), 'site');
  const site = initSiteFolder(dir, { name });
  const volumes: { data: Float32Array; label: Label }[] = [];
  let s = seed;
  perClass.forEach((count, c) => {
    for (let v = 0; v < count; v++) {
      const data = new Float32Array(4 * 16 * 16).map(() => {
        s = (s * 1103515245 + 12345) % 2147483648;
        return (s / 2147483648) * 0.5 + bias + c * 0.15;
      });
      const label = LABELS[c]!;
      const sha = site.volumes.put(data, [4, 16, 16], [1, 1, 1]);
      site.index.upsert({ seriesInstanceUid: `1.2.${seed}.${c}.${v}`, studyInstanceUid: null, label, split, sourcePath: `/nowhere/${name}/${c}/${v}`, volumeSha256: sha, shape: [4, 16, 16], spacingMm: [1, 1, 1], sourceSlices: 4, scanner: '', warnings: [], importedAt: new Date().toISOString() });
      volumes.push({ data, label });
    }
  });
  site.close();
  return { dir, volumes };
}

/** What a site should find: the same engine on the same studies, in the index's order. */
async function expectedCounts(engine: TrainingEngine, dir: string, denoiser: ModelBlob, classifier: ModelBlob, split: 'val' | 'test'): Promise<EvaluationCounts> {
  const site = SiteFolder.open(dir);
  try {
    const studies = site.index.list({ split });
    const probabilities: number[][] = [];
    for (const study of studies) {
      const volume = site.volumes.get(study.volumeSha256);
      const infection = await engine.extractInfection({ denoiser, volume: volume.data, shape: study.shape });
      probabilities.push(await engine.classify({ weights: classifier, volume: infection.data, shape: infection.shape }));
    }
    return evaluationCounts(studies.map((s) => CLASS_INDEX[s.label]), probabilities);
  } finally {
    site.close();
  }
}

function inside(summary: EvaluationSummary): void {
  for (const p of [summary.accuracy, summary.covidVsRestAccuracy, summary.covidSensitivity, summary.covidSpecificity]) {
    if (p.value === null) continue;
    expect(p.ci[0]).toBeLessThanOrEqual(p.value);
    expect(p.ci[1]).toBeGreaterThanOrEqual(p.value);
  }
  const auc = summary.aucCovid;
  if (auc.value !== null && auc.ci) {
    expect(auc.ci[0]).toBeLessThanOrEqual(auc.value);
    expect(auc.ci[1]).toBeGreaterThanOrEqual(auc.value);
  }
}

describe('federated evaluation', () => {
  it('measures a classifier at three sites with different data: stored counts equal each site\'s own, pooled is the summed matrix, a refusing site is reported', async () => {
    const coordinator = await startTestCoordinator();
    cleanups.push(() => coordinator.dispose());
    const engine: TrainingEngine & ToyEngine = new ToyEngine(12);
    const denoiser = engine.init(3, 'bcdunet');
    const classifier = engine.init(9, 'cnn3d');
    classifier.weights.set([0.2, 0.6, -0.4], 0);
    const d = await uploadModel(coordinator.url, ADMIN_TOKEN, encodeModelBlob(denoiser), 'denoiser');
    const c = await uploadModel(coordinator.url, ADMIN_TOKEN, encodeModelBlob(classifier), 'classifier');

    const specs = [
      { name: 'hospital-a', perClass: [5, 3, 2], bias: 0.1, seed: 11, policy: 'evaluation:\n  splits: [val, test]\n  minStudies: 3\n' },
      { name: 'hospital-b', perClass: [2, 6, 2], bias: 0.25, seed: 23, policy: 'evaluation:\n  splits: [val, test]\n  minStudies: 3\n' },
      { name: 'hospital-c', perClass: [3, 3, 3], bias: 0.0, seed: 37, policy: 'evaluation:\n  splits: [val]\n  minStudies: 3\n' },
    ];
    const daemons: { name: string; dir: string; daemon: SiteDaemon; siteId: string; sent: unknown[] }[] = [];
    for (const spec of specs) {
      const { dir } = siteWithStudies(spec.name, 'test', spec.perClass, spec.bias, spec.seed);
      writeFileSync(join(dir, 'policy.yaml'), spec.policy);
      const folder = SiteFolder.open(dir);
      const { token } = await api<{ token: string }>(coordinator.url, '/api/enrollment-tokens', ADMIN_TOKEN, 'POST', { siteName: spec.name });
      await enrollSite(folder, { coordinatorUrl: coordinator.url, token });
      const daemon = new SiteDaemon({ site: folder, engine, logger: memoryLogger(), heartbeatMs: 60_000 });
      // Everything the site sends as an evaluation result, as it leaves the socket.
      const sent: unknown[] = [];
      const socket = daemon.connection;
      const emitWithAck = socket.emitWithAck.bind(socket) as unknown as (...a: unknown[]) => Promise<unknown>;
      socket.emitWithAck = ((...args: unknown[]) => {
        if (args[0] === 'evaluation.result') sent.push(structuredClone(args[1]));
        return emitWithAck(...args);
      }) as typeof socket.emitWithAck;
      await daemon.start();
      cleanups.push(async () => {
        await daemon.stop();
        folder.close();
      });
      const authenticated = await daemon.next('authenticated');
      daemons.push({ name: spec.name, dir, daemon, siteId: authenticated.siteId, sent });
    }

    const created = await api<EvaluationView>(coordinator.url, '/api/evaluations', ADMIN_TOKEN, 'POST', { classifierVersion: c.version, denoiserVersion: d.version, split: 'test', deadlineSeconds: 30 });
    expect(created.status).toBe('running');
    let view = created;
    const until = Date.now() + 20_000;
    while (Date.now() < until) {
      view = await api<EvaluationView>(coordinator.url, `/api/evaluations/${created.id}`, ADMIN_TOKEN);
      if (view.status === 'completed') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(view.status).toBe('completed');
    expect(view.sites.map((x) => x.siteName).sort()).toEqual(['hospital-a', 'hospital-b', 'hospital-c']);
    expect(view.classifier).toEqual({ version: c.version, sha256: c.sha256 });
    expect(view.split).toBe('test');

    const expected: EvaluationCounts[] = [];
    for (const { name, dir } of daemons.slice(0, 2)) {
      const want = await expectedCounts(engine, dir, denoiser, classifier, 'test');
      expected.push(want);
      const got = view.sites.find((s) => s.siteName === name)!;
      expect(got.status).toBe('accepted');
      expect(got.summary!.confusion).toEqual(want.confusion);
      expect(got.summary!.n).toBe(want.n);
      expect(got.summary).toEqual(summarizeEvaluation(want));
      inside(got.summary!);
    }
    expect(view.pooled).toEqual(summarizeEvaluation(sumCounts(expected)));
    expect(view.pooled!.n).toBe(20);
    inside(view.pooled!);
    const refused = view.sites.find((s) => s.siteName === 'hospital-c')!;
    expect(refused.status).toBe('failed');
    expect(refused.reason).toMatch(/refused by site policy \(evaluation\.splits\)/);
    expect(view.missing).toEqual([{ siteId: refused.siteId, siteName: 'hospital-c', status: 'failed', reason: refused.reason }]);

    // Privacy: what left each answering site is exactly the aggregate fields (and the site kept a copy for predict).
    for (const { sent, dir } of daemons.slice(0, 2)) {
      expect(sent).toHaveLength(1);
      const message = sent[0] as Record<string, unknown>;
      expect(Object.keys(message).sort()).toEqual(['classifierSha256', 'counts', 'experiment', 'nonce', 'round', 'split']);
      const counts = message.counts as Record<string, unknown>;
      expect(Object.keys(counts).sort()).toEqual(['confusion', 'histograms', 'n']);
      const numbers = JSON.stringify(counts).replace(/[[\]{}",:a-z]/g, ' ').trim().split(/\s+/);
      expect(numbers.every((t) => /^\d+$/.test(t))).toBe(true);
      const folder = SiteFolder.open(dir);
      expect(folder.index.latestEvaluation(c.sha256)?.counts).toEqual(counts);
      folder.close();
    }
    expect(daemons[2]!.sent).toHaveLength(0);
    const audit = await api<{ event: string; detail: Record<string, unknown> }[]>(coordinator.url, '/api/audit?limit=1000', ADMIN_TOKEN);
    expect(audit.filter((e) => e.event === 'evaluation.result')).toHaveLength(2);
    expect(audit.some((e) => e.event === 'evaluation.created' && e.detail.classifier === c.version)).toBe(true);
    // An evaluation is not a training experiment.
    const experiments = await api<{ id: string }[]>(coordinator.url, '/api/experiments', ADMIN_TOKEN);
    expect(experiments.some((e) => e.id === created.id)).toBe(false);
  });

  it('refuses and audits malformed, inconsistent, foreign, replayed and duplicate results, and stores none of them', async () => {
    const coordinator = await startTestCoordinator();
    cleanups.push(() => coordinator.dispose());
    const engine = new ToyEngine(12);
    const d = await uploadModel(coordinator.url, ADMIN_TOKEN, encodeModelBlob(engine.init(3, 'bcdunet')), 'denoiser');
    const c = await uploadModel(coordinator.url, ADMIN_TOKEN, encodeModelBlob(engine.init(9, 'cnn3d')), 'classifier');
    const site = await SimSite.enroll(coordinator.url, ADMIN_TOKEN, 'forger', 0, { autopilot: false, seed: 5 });
    const other = await SimSite.enroll(coordinator.url, ADMIN_TOKEN, 'honest', 0, { autopilot: false, seed: 6 });
    for (const s of [site, other]) {
      expect((await s.connect()).ok).toBe(true);
      cleanups.push(() => s.disconnect());
    }
    const created = await api<EvaluationView>(coordinator.url, '/api/evaluations', ADMIN_TOKEN, 'POST', { classifierVersion: c.version, denoiserVersion: d.version, split: 'val', sites: [site.siteId, other.siteId] });
    await waitFor(() => site.tasks.length === 1 && other.tasks.length === 1, 5000, 'the evaluation tasks');
    const task = site.tasks[0]!;
    expect(task.kind).toBe('evaluate');
    expect(task.evaluation).toEqual({ split: 'val', bins: 100 });
    expect(task.baseModel?.sha256).toBe(c.sha256);
    const good = evaluationCounts([0, 1, 2, 1], [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.3, 0.2]]);

    const refusals: [Record<string, unknown>, string, RegExp][] = [
      [{ counts: { ...good, n: 5 } }, 'bad_message', /holds 4 studies, n says 5/],
      [{ counts: { ...good, confusion: [[1, 0, 0], [0, -1, 0], [0, 0, 1]] } }, 'bad_message', /evaluation\.result/],
      [{ counts: { ...good, n: 3.5 } }, 'bad_message', /evaluation\.result/],
      [{ studies: ['1.2.3'] }, 'bad_message', /evaluation\.result/],
      [{ classifierSha256: 'e'.repeat(64) }, 'rejected_base_model', /result is for model eeeeeeeeeeee/],
      [{ split: 'test' }, 'bad_message', /split test/],
    ];
    for (const [overrides, code, message] of refusals) {
      const reply = await site.submitEvaluation(task, good, overrides);
      expect(reply.ok, JSON.stringify(overrides)).toBe(false);
      if (!reply.ok) {
        expect(reply.code).toBe(code);
        expect(reply.message).toMatch(message);
      }
    }
    const nonce = 'n'.repeat(32);
    expect(await site.submitEvaluation(task, good, { nonce })).toMatchObject({ ok: true });
    expect(await other.submitEvaluation(other.tasks[0]!, good, { nonce })).toMatchObject({ ok: false, code: 'rejected_replay' });
    expect(await site.submitEvaluation(task, good)).toMatchObject({ ok: false, code: 'rejected_duplicate' });
    const honest = evaluationCounts([2, 2], [[0.1, 0.1, 0.8], [0.3, 0.3, 0.4]]);
    expect(await other.submitEvaluation(other.tasks[0]!, honest)).toMatchObject({ ok: true });
    expect(await site.submitEvaluation(task, good)).toMatchObject({ ok: false, code: 'round_closed' });
    let view = await api<EvaluationView>(coordinator.url, `/api/evaluations/${created.id}`, ADMIN_TOKEN);
    for (let i = 0; i < 100 && view.status !== 'completed'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      view = await api<EvaluationView>(coordinator.url, `/api/evaluations/${created.id}`, ADMIN_TOKEN);
    }
    expect(view.status).toBe('completed');
    expect(view.sites.find((x) => x.siteId === site.siteId)?.summary?.confusion).toEqual(good.confusion);
    expect(view.pooled).toEqual(summarizeEvaluation(sumCounts([good, honest])));
    const audit = await api<{ event: string; detail: { code?: string } }[]>(coordinator.url, '/api/audit?limit=1000', ADMIN_TOKEN);
    expect(audit.filter((e) => e.event === 'evaluation.rejected').map((e) => e.detail.code)).toEqual(['bad_message', 'bad_message', 'bad_message', 'bad_message', 'rejected_base_model', 'bad_message', 'rejected_replay', 'rejected_duplicate', 'round_closed']);
  });

  it('completes after the deadline with the sites that answered and reports a site that went silent mid-evaluation as missing', async () => {
    const coordinator = await startTestCoordinator();
    cleanups.push(() => coordinator.dispose());
    const engine = new ToyEngine(12);
    const d = await uploadModel(coordinator.url, ADMIN_TOKEN, encodeModelBlob(engine.init(3, 'bcdunet')), 'denoiser');
    const c = await uploadModel(coordinator.url, ADMIN_TOKEN, encodeModelBlob(engine.init(9, 'cnn3d')), 'classifier');
    const answering = await SimSite.enroll(coordinator.url, ADMIN_TOKEN, 'answering', 0, { autopilot: false, seed: 7 });
    const killed = await SimSite.enroll(coordinator.url, ADMIN_TOKEN, 'killed', 0, { autopilot: false, seed: 8 });
    for (const s of [answering, killed]) {
      expect((await s.connect()).ok).toBe(true);
      cleanups.push(() => s.disconnect());
    }
    const created = await api<EvaluationView>(coordinator.url, '/api/evaluations', ADMIN_TOKEN, 'POST', { classifierVersion: c.version, denoiserVersion: d.version, split: 'val', sites: [answering.siteId, killed.siteId], deadlineSeconds: 2 });
    await waitFor(() => answering.tasks.length === 1 && killed.tasks.length === 1, 5000, 'the evaluation tasks');
    // One site dies with its task (its process gone: no answer, no refusal); the other answers.
    killed.disconnect();
    const counts = evaluationCounts([0, 1, 2], [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.5, 0.2, 0.3]]);
    expect(await answering.submitEvaluation(answering.tasks[0]!, counts)).toMatchObject({ ok: true });
    let view = await api<EvaluationView>(coordinator.url, `/api/evaluations/${created.id}`, ADMIN_TOKEN);
    expect(view.status).not.toBe('completed');
    for (let i = 0; i < 200 && view.status !== 'completed'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      view = await api<EvaluationView>(coordinator.url, `/api/evaluations/${created.id}`, ADMIN_TOKEN);
    }
    expect(view.status).toBe('completed');
    expect(view.missing).toEqual([{ siteId: killed.siteId, siteName: 'killed', status: 'dropped', reason: expect.any(String) }]);
    expect(view.pooled).toEqual(summarizeEvaluation(counts));
  });
});
