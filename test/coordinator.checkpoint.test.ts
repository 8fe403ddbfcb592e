import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeModelBlob, encodeModelBlob, type ModelBlob } from '@fedct/protocol';
import { ADMIN_TOKEN, startTestCoordinator, waitFor, waitForExperiment, type ExperimentStatus } from './helpers/coordinator-harness';
import { SimSite, api, simulatedTraining, toyModel, uploadModel } from '@fedct/site-agent/testing';

type Coordinator = Awaited<ReturnType<typeof startTestCoordinator>>;
let running: Coordinator | null = null;
const cleanup: (() => void)[] = [];

afterEach(async () => {
  await running?.close().catch(() => undefined);
  running = null;
  for (const c of cleanup.splice(0)) c();
});

/** Four sites in a one-round FedAvg experiment with checkpoints every 2 updates; a, b and c have uploaded. */
async function threeOfFourUploaded(): Promise<{ dataDir: string; id: string; initial: ModelBlob; sites: [SimSite, SimSite, SimSite, SimSite]; roundDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fedct-ckpt-'));
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  running = await startTestCoordinator({ dataDir, roundCheckpointEvery: 2, verifyWorkers: 0 });
  const { url } = running;
  const initial = toyModel(5_000);
  const v1 = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(initial));
  // Deltas and sample counts chosen so the weighted mean is exact in float32: (1·0.5 + 2·0.25 + 3·0.125 + 2·1) / 8.
  const specs = [
    { name: 'a', delta: 0.5, samples: 1 },
    { name: 'b', delta: 0.25, samples: 2 },
    { name: 'c', delta: 0.125, samples: 3 },
    { name: 'd', delta: 1, samples: 2 },
  ];
  const sites: SimSite[] = [];
  for (const s of specs) sites.push(await SimSite.enroll(url, ADMIN_TOKEN, s.name, s.delta, { autopilot: false, sampleCount: s.samples }));
  cleanup.push(() => sites.forEach((s) => s.disconnect()));
  for (const s of sites) expect((await s.connect()).ok).toBe(true);
  const { id } = await api<{ id: string }>(url, '/api/experiments', ADMIN_TOKEN, 'POST', { phase: 'denoiser', rounds: 1, minSites: 4, roundDeadlineSeconds: 60, initialModel: v1.version });
  await waitFor(() => sites.every((s) => s.tasks.length === 1), 10_000, 'tasks');
  for (const s of sites.slice(0, 3)) expect(await s.upload(s.tasks[0]!, s.sealUpdate(s.tasks[0]!, await s.train(s.tasks[0]!)))).toMatchObject({ ok: true });
  return { dataDir, id, initial, sites: sites as [SimSite, SimSite, SimSite, SimSite], roundDir: join(dataDir, 'rounds', id, '1') };
}

/** Stops the coordinator (its round unfinished) and starts a new one on the same data. */
async function restart(dataDir: string, sites: SimSite[]): Promise<Coordinator> {
  for (const s of sites) s.disconnect();
  await running!.close();
  running = await startTestCoordinator({ dataDir, roundCheckpointEvery: 2, verifyWorkers: 0 });
  return running;
}

describe('coordinator round checkpoints', () => {
  it('keeps at most roundCheckpointEvery envelopes on disk and resumes from the checkpoint after a restart', async () => {
    const { dataDir, id, initial, sites, roundDir } = await threeOfFourUploaded();
    const [, , c, d] = sites;
    // a and b are in the checkpoint (their envelopes deleted); c's envelope is still spooled.
    expect(readdirSync(roundDir).filter((f) => f !== 'manifest.json').sort()).toEqual([`${c.siteId}.sealed`, 'sum.ckpt'].sort());

    const { url } = await restart(dataDir, sites);
    const resumed = await api<{ detail: { refolded: number; fromCheckpoint: number } }[]>(url, '/api/audit?event=round.resumed', ADMIN_TOKEN);
    expect(resumed.map((e) => e.detail)).toMatchObject([{ refolded: 1, fromCheckpoint: 2 }]);
    expect(await d.connect(url)).toMatchObject({ ok: true });
    const task = await d.resume();
    expect(task?.round).toBe(1);
    expect(await d.upload(task!, d.sealUpdate(task!, await d.train(task!)))).toMatchObject({ ok: true });
    const done = await waitForExperiment(url, id, (e) => e.status === 'completed');
    const expected = simulatedTraining(initial.weights, (1 * 0.5 + 2 * 0.25 + 3 * 0.125 + 2 * 1) / 8);
    const response = await fetch(`${url}/api/models/${done.currentModel}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const model = decodeModelBlob(new Uint8Array(await response.arrayBuffer())).weights;
    let maxError = 0;
    for (let i = 0; i < model.length; i++) maxError = Math.max(maxError, Math.abs(model[i]! - expected[i]!));
    expect(maxError).toBeLessThan(1e-6);
    expect(existsSync(roundDir)).toBe(false); // cleaned up once published
  });

  it('fails the round instead of resuming when the checkpoint names an update the database has not accepted', async () => {
    const { dataDir, id, sites, roundDir } = await threeOfFourUploaded();
    // As after a power cut that kept the file but lost the database's last transaction: d is in the sum.
    const file = join(roundDir, 'sum.ckpt');
    const bytes = readFileSync(file);
    const headerLength = bytes.readUInt32LE(0);
    const header = JSON.parse(bytes.subarray(4, 4 + headerLength).toString('utf8')) as { count: number; sites: string[] };
    const forged = Buffer.from(JSON.stringify({ ...header, count: header.count + 1, sites: [...header.sites, sites[3].siteId] }));
    const prefix = Buffer.alloc(Math.ceil((4 + forged.length) / 8) * 8, 0x20);
    prefix.writeUInt32LE(forged.length, 0);
    forged.copy(prefix, 4);
    writeFileSync(file, Buffer.concat([prefix, bytes.subarray(Math.ceil((4 + headerLength) / 8) * 8)]));

    const { url } = await restart(dataDir, sites);
    const experiment = await api<ExperimentStatus>(url, `/api/experiments/${id}`, ADMIN_TOKEN);
    expect(experiment.rounds[0]).toMatchObject({ round: 1, state: 'failed' });
    expect(experiment.rounds[0]!.reason).toMatch(/has not accepted/);
    const failed = await api<{ detail: { reason: string } }[]>(url, '/api/audit?event=round.failed', ADMIN_TOKEN);
    expect(failed.some((e) => /checkpoint/.test(e.detail.reason))).toBe(true);
    expect(await api<unknown[]>(url, '/api/audit?event=round.resumed', ADMIN_TOKEN)).toHaveLength(0);
  });
});
