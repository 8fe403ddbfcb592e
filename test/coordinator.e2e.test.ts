import { afterEach, describe, expect, it } from 'vitest';
import { decodeModelBlob, encodeModelBlob } from '@fedct/protocol';
import { ADMIN_TOKEN, startTestCoordinator, waitForExperiment } from './helpers/coordinator-harness';
import { SimSite, api, simulatedTraining, toyModel, uploadModel } from '@fedct/site-agent/testing';

type Coordinator = Awaited<ReturnType<typeof startTestCoordinator>>;
let coordinator: Coordinator | null = null;
const sites: SimSite[] = [];

afterEach(async () => {
  for (const s of sites.splice(0)) s.disconnect();
  await coordinator?.dispose();
  coordinator = null;
});

async function enrolSites(url: string, deltas: number[], samples: number[]): Promise<SimSite[]> {
  const out: SimSite[] = [];
  for (let i = 0; i < deltas.length; i++) {
    const site = await SimSite.enroll(url, ADMIN_TOKEN, `hospital-${i}`, deltas[i]!, { sampleCount: samples[i]!, seed: i + 1 });
    const reply = await site.connect();
    expect(reply.ok).toBe(true);
    sites.push(site);
    out.push(site);
  }
  return out;
}

async function downloadModel(url: string, version: string): Promise<Float32Array> {
  const response = await fetch(`${url}/api/models/${version}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(response.status).toBe(200);
  return decodeModelBlob(new Uint8Array(await response.arrayBuffer())).weights;
}

describe('coordinator end to end', () => {
  it('runs a three-round FedAvg experiment and publishes the sample-weighted mean each round', async () => {
    coordinator = await startTestCoordinator();
    const { url } = coordinator;
    const initial = toyModel(3000);
    const v1 = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(initial));
    const enrolled = await enrolSites(url, [0.1, 0.2, 0.4], [10, 30, 60]);
    const { id } = await api<{ id: string }>(url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser',
      rounds: 3,
      minSites: 3,
      learningRate: 0.02,
      learningRateSchedule: 'cosine',
      roundDeadlineSeconds: 20,
      initialModel: v1.version,
    });
    const done = await waitForExperiment(url, id, (e) => e.status === 'completed');
    expect(done.publishedRounds).toBe(3);
    expect(done.rounds.map((r) => r.state)).toEqual(['published', 'published', 'published']);
    // Each round adds the weighted mean delta: (0.1·10 + 0.2·30 + 0.4·60) / 100 = 0.31.
    let expected = initial.weights;
    for (let r = 0; r < 3; r++) expected = simulatedTraining(expected, 0.31);
    const final = await downloadModel(url, done.currentModel!);
    expect(final.length).toBe(expected.length);
    let maxError = 0;
    for (let i = 0; i < final.length; i++) maxError = Math.max(maxError, Math.abs(final[i]! - expected[i]!));
    expect(maxError).toBeLessThan(1e-5);
    const models = await api<{ version: string; parent: string | null; round: number | null }[]>(url, '/api/models', ADMIN_TOKEN);
    expect(models.map((m) => m.parent)).toEqual([null, 'v1', 'v2', 'v3']);
    expect(done.rounds[0]!.metrics.samples).toBe(100);
    // The cosine schedule, by hand: 0.02 · (0.1 + 0.45 · (1 + cos(π · (r − 1) / 2))) = 0.02, 0.011, 0.002.
    for (const site of enrolled) {
      const rates = site.tasks.map((t) => t.hyper.learningRate);
      expect(rates).toHaveLength(3);
      [0.02, 0.011, 0.002].forEach((want, r) => expect(rates[r]).toBeCloseTo(want, 12));
    }
  });

  it.each([
    ['median', 0.2],
    ['fedadam', null],
  ] as const)('runs a %s round through the same engine', async (strategy, expectedDelta) => {
    coordinator = await startTestCoordinator();
    const { url } = coordinator;
    const initial = toyModel(40_000);
    const v1 = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(initial));
    await enrolSites(url, [0.1, 0.2, 5], [1, 1, 1]);
    const { id } = await api<{ id: string }>(url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser',
      rounds: 1,
      minSites: 3,
      strategy,
      strategyOptions: { serverLearningRate: 0.01, tau: 1e-3 },
      initialModel: v1.version,
    });
    const done = await waitForExperiment(url, id, (e) => e.status === 'completed');
    const final = await downloadModel(url, done.currentModel!);
    if (expectedDelta !== null) {
      // Median of the deltas 0.1, 0.2, 5 is 0.2: the outlier has no effect.
      for (const i of [0, 20_000, 39_999]) expect(final[i]).toBeCloseTo(initial.weights[i]! + expectedDelta, 5);
    } else {
      // FedAdam step from zero moments: Δ = 1.7667 everywhere, w + η·0.1Δ / (√(0.01Δ²) + τ).
      const delta = (0.1 + 0.2 + 5) / 3;
      const step = (0.01 * 0.1 * delta) / (Math.sqrt(0.01 * delta * delta) + 1e-3);
      for (const i of [0, 39_999]) expect(final[i]).toBeCloseTo(initial.weights[i]! + step, 4);
    }
  });
});
