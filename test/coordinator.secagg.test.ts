import { afterEach, describe, expect, it } from 'vitest';
import { decodeModelBlob, encodeModelBlob } from '@fedct/protocol';
import { ADMIN_TOKEN, startTestCoordinator, waitForExperiment } from './helpers/coordinator-harness';
import { SimSite, api, toyModel, uploadModel } from '@fedct/site-agent/testing';

type Coordinator = Awaited<ReturnType<typeof startTestCoordinator>>;
let coordinator: Coordinator | null = null;
const sites: SimSite[] = [];

afterEach(async () => {
  for (const s of sites.splice(0)) s.disconnect();
  await coordinator?.dispose();
  coordinator = null;
});

describe('coordinator secure aggregation', () => {
  it('publishes the weighted mean of the survivors when one site drops after sharing its keys and another before unmasking', async () => {
    coordinator = await startTestCoordinator();
    const { url } = coordinator;
    const initial = toyModel(3000);
    const v1 = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(initial));
    // 8 sites: complete neighbour graph (7 neighbours), threshold 5, so two dropouts are tolerated.
    for (let i = 1; i <= 8; i++) {
      const site = await SimSite.enroll(url, ADMIN_TOKEN, `secure-${i}`, 0.1 * i, { sampleCount: 10 * i, secAggDropAt: i === 8 ? 'masked' : i === 7 ? 'unmask' : undefined });
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
    expect(sites.flatMap((s) => s.secAggErrors), JSON.stringify(sites.flatMap((s) => s.secAggErrors))).toEqual([]);
    expect(done.rounds.map((r) => r.reason)).toEqual([null]);
    expect(done.status).toBe('completed');
    const results = done.rounds[0]!.results;
    expect(results.filter((r) => r.status === 'accepted')).toHaveLength(7);
    expect(results.find((r) => r.siteId === sites[7]!.siteId)?.status).toBe('dropped');
    expect(sites[0]!.tasks[0]!.secAgg).toMatchObject({ neighbours: 7, threshold: 5 });
    // Site 7's masked input arrived (it only went silent at the unmask stage), so it is a survivor:
    // the sample-weighted mean delta of sites 1-7 is Σ 0.1i·10i / Σ 10i = 140 / 280 = 0.5.
    const response = await fetch(`${url}/api/models/${done.currentModel}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const final = decodeModelBlob(new Uint8Array(await response.arrayBuffer())).weights;
    let maxError = 0;
    for (let i = 0; i < final.length; i++) maxError = Math.max(maxError, Math.abs(final[i]! - (initial.weights[i]! + 0.5)));
    expect(maxError).toBeLessThan(1e-4);
  });

  it('fails the round cleanly when more sites drop than the threshold allows', async () => {
    coordinator = await startTestCoordinator();
    const { url } = coordinator;
    const v1 = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(toyModel(500)));
    // 5 sites: 4 neighbours each, threshold 3; two silent neighbours leave only 2 shares of a survivor's secret.
    for (let i = 0; i < 5; i++) {
      const site = await SimSite.enroll(url, ADMIN_TOKEN, `fragile-${i}`, 0.1, { secAggDropAt: i === 4 ? 'masked' : i === 3 ? 'unmask' : undefined });
      expect((await site.connect()).ok).toBe(true);
      sites.push(site);
    }
    const { id } = await api<{ id: string }>(url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser', rounds: 1, minSites: 3, secureAgg: true, secAggStageSeconds: 1, roundDeadlineSeconds: 1, maxRoundRetries: 0, initialModel: v1.version,
    });
    const done = await waitForExperiment(url, id, (e) => e.status !== 'running', 30_000);
    expect(done.status).toBe('failed');
    expect(done.rounds[0]!.reason).toMatch(/secure aggregation failed: Only 2 shares .* 3 are needed/);
    expect(done.currentModel).toBe('v1');
  });

  it('refuses secure aggregation without an initial model or with a robust strategy', async () => {
    coordinator = await startTestCoordinator();
    const { url } = coordinator;
    await expect(api(url, '/api/experiments', ADMIN_TOKEN, 'POST', { phase: 'denoiser', rounds: 1, minSites: 2, secureAgg: true })).rejects.toThrow(/initialModel/);
    const v1 = await uploadModel(url, ADMIN_TOKEN, encodeModelBlob(toyModel(10)));
    await expect(api(url, '/api/experiments', ADMIN_TOKEN, 'POST', { phase: 'denoiser', rounds: 1, minSites: 2, secureAgg: true, strategy: 'median', initialModel: v1.version })).rejects.toThrow(/median/);
  });
});
