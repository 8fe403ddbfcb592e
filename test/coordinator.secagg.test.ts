import { afterEach, describe, expect, it } from 'vitest';
import { decodeModelBlob, encodeModelBlob } from '@fedct/protocol';
import { ADMIN_TOKEN, startTestCoordinator, waitForExperiment } from './helpers/coordinator-harness';
import { SimSite, api, toyModel, uploadModel } from './helpers/sim-site';

type Coordinator = Awaited<ReturnType<typeof startTestCoordinator>>;
let coordinator: Coordinator | null = null;
const sites: SimSite[] = [];

afterEach(async () => {
  for (const s of sites.splice(0)) s.disconnect();
  await coordinator?.dispose();
  coordinator = null;
});

describe('coordinator secure aggregation', () => {
  it('publishes the weighted mean of the survivors when one site drops after sharing its keys', async () => {
    coordinator = await startTestCoordinator();
    const { url } = coordinator;
    const initial = toyModel(3000);
    const v1 = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(initial));
    const deltas = [0.1, 0.2, 0.3, 0.4, 0.5];
    const samples = [10, 20, 30, 40, 50];
    for (let i = 0; i < deltas.length; i++) {
      const site = await SimSite.enroll(url, ADMIN_TOKEN, `secure-${i}`, deltas[i]!, { sampleCount: samples[i]!, secAggDropAt: i === 4 ? 'masked' : undefined });
      expect((await site.connect()).ok).toBe(true);
      sites.push(site);
    }
    const { id } = await api<{ id: string }>(url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser',
      rounds: 1,
      minSites: 3,
      secureAgg: true,
      secAggClipRange: 1,
      secAggStageSeconds: 2,
      roundDeadlineSeconds: 2,
      initialModel: v1.version,
    });
    const done = await waitForExperiment(url, id, (e) => e.status !== 'running', 30_000);
    expect(sites.flatMap((s) => s.secAggErrors)).toEqual([]);
    expect(done.status).toBe('completed');
    const results = done.rounds[0]!.results;
    expect(results.filter((r) => r.status === 'accepted')).toHaveLength(4);
    expect(results.find((r) => r.siteId === sites[4]!.siteId)?.status).toBe('dropped');
    expect(sites[0]!.tasks[0]!.secAgg?.threshold).toBeGreaterThan(1);
    // Survivors' sample-weighted mean delta: (0.1·10 + 0.2·20 + 0.3·30 + 0.4·40) / 100 = 0.3.
    const response = await fetch(`${url}/api/models/${done.currentModel}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const final = decodeModelBlob(new Uint8Array(await response.arrayBuffer())).weights;
    let maxError = 0;
    for (let i = 0; i < final.length; i++) maxError = Math.max(maxError, Math.abs(final[i]! - (initial.weights[i]! + 0.3)));
    expect(maxError).toBeLessThan(1e-4);
  });

  it('refuses secure aggregation without an initial model or with a robust strategy', async () => {
    coordinator = await startTestCoordinator();
    const { url } = coordinator;
    await expect(api(url, '/api/experiments', ADMIN_TOKEN, 'POST', { phase: 'denoiser', rounds: 1, minSites: 2, secureAgg: true })).rejects.toThrow(/initialModel/);
    const v1 = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(toyModel(10)));
    await expect(api(url, '/api/experiments', ADMIN_TOKEN, 'POST', { phase: 'denoiser', rounds: 1, minSites: 2, secureAgg: true, strategy: 'median', initialModel: v1.version })).rejects.toThrow(/median/);
  });
});
