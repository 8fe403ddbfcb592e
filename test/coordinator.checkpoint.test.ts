import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeModelBlob, encodeModelBlob } from '@fedct/protocol';
import { ADMIN_TOKEN, startTestCoordinator, waitFor, waitForExperiment } from './helpers/coordinator-harness';
import { SimSite, api, simulatedTraining, toyModel, uploadModel } from './helpers/sim-site';

describe('coordinator round checkpoints', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fedct-ckpt-'));
  let cleanup: (() => Promise<void>) | null = null;
  afterAll(async () => {
    await cleanup?.().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps at most roundCheckpointEvery envelopes on disk and resumes from the checkpoint after a restart', async () => {
    let coordinator = await startTestCoordinator({ dataDir, roundCheckpointEvery: 2, verifyWorkers: 0 });
    cleanup = () => coordinator.close();
    const initial = toyModel(5_000);
    const v1 = await uploadModel(coordinator.url, ADMIN_TOKEN, encodeModelBlob(initial));
    // Deltas and sample counts chosen so the weighted mean is exact in float32: (1·0.5 + 2·0.25 + 3·0.125 + 2·1) / 8.
    const specs = [
      { name: 'a', delta: 0.5, samples: 1 },
      { name: 'b', delta: 0.25, samples: 2 },
      { name: 'c', delta: 0.125, samples: 3 },
      { name: 'd', delta: 1, samples: 2 },
    ];
    const sites: SimSite[] = [];
    for (const s of specs) sites.push(await SimSite.enroll(coordinator.url, ADMIN_TOKEN, s.name, s.delta, { autopilot: false, sampleCount: s.samples }));
    for (const s of sites) expect((await s.connect()).ok).toBe(true);
    const { id } = await api<{ id: string }>(coordinator.url, '/api/experiments', ADMIN_TOKEN, 'POST', { phase: 'denoiser', rounds: 1, minSites: 4, roundDeadlineSeconds: 60, initialModel: v1.version });
    await waitFor(() => sites.every((s) => s.tasks.length === 1), 10_000, 'tasks');
    const [a, b, c, d] = sites as [SimSite, SimSite, SimSite, SimSite];
    for (const s of [a, b, c]) expect(await s.upload(s.tasks[0]!, s.sealUpdate(s.tasks[0]!, await s.train(s.tasks[0]!)))).toMatchObject({ ok: true });

    // a and b are in the checkpoint (their envelopes deleted); c's envelope is still spooled.
    const roundDir = join(dataDir, 'rounds', id, '1');
    expect(readdirSync(roundDir).filter((f) => f !== 'manifest.json').sort()).toEqual([`${c.siteId}.sealed`, 'sum.ckpt'].sort());

    // "Crash" and restart on the same data: the round resumes from the checkpoint plus c's envelope.
    for (const s of sites) s.disconnect();
    await coordinator.close();
    coordinator = await startTestCoordinator({ dataDir, roundCheckpointEvery: 2, verifyWorkers: 0 });
    try {
      const resumed = await api<{ detail: { refolded: number; fromCheckpoint: number } }[]>(coordinator.url, '/api/audit?event=round.resumed', ADMIN_TOKEN);
      expect(resumed.map((e) => e.detail)).toMatchObject([{ refolded: 1, fromCheckpoint: 2 }]);
      expect(await d.connect(coordinator.url)).toMatchObject({ ok: true });
      const task = await d.resume();
      expect(task?.round).toBe(1);
      expect(await d.upload(task!, d.sealUpdate(task!, await d.train(task!)))).toMatchObject({ ok: true });
      const done = await waitForExperiment(coordinator.url, id, (e) => e.status === 'completed');
      const expected = simulatedTraining(initial.weights, (1 * 0.5 + 2 * 0.25 + 3 * 0.125 + 2 * 1) / 8);
      const response = await fetch(`${coordinator.url}/api/models/${done.currentModel}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const model = decodeModelBlob(new Uint8Array(await response.arrayBuffer())).weights;
      let maxError = 0;
      for (let i = 0; i < model.length; i++) maxError = Math.max(maxError, Math.abs(model[i]! - expected[i]!));
      expect(maxError).toBeLessThan(1e-6);
      expect(existsSync(roundDir)).toBe(false); // cleaned up once published
    } finally {
      for (const s of sites) s.disconnect();
      await coordinator.close();
      cleanup = null;
    }
  });
});
