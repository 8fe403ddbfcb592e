import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createExperimentSchema } from '@fedct/protocol';
import { openDatabase } from '../core/database';
import { ExperimentsRepository } from './experiments.repository';

const dir = mkdtempSync(join(tmpdir(), 'fedct-repo-'));
const db = openDatabase(dir);
afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe(ExperimentsRepository.name, () => {
  it("answers one site's result and the round's status counts without decoding every row", () => {
    const repo = new ExperimentsRepository(db);
    const now = new Date().toISOString();
    const settings = createExperimentSchema.parse({ phase: 'denoiser', rounds: 2 });
    repo.insertExperiment({ id: 'e', name: 'e', phase: 'denoiser', settings, status: 'running', currentModel: null, publishedRounds: 0, consecutiveFailures: 0, reason: null, createdAt: now, updatedAt: now });
    const sites = ['s1', 's2', 's3', 's4'];
    repo.insertRound({ experimentId: 'e', round: 1, state: 'training', baseModel: null, participants: sites, startedAt: now, deadline: now, closedAt: null, modelVersion: null, reason: null, metrics: {} });
    repo.insertRound({ experimentId: 'e', round: 2, state: 'training', baseModel: null, participants: ['s1'], startedAt: now, deadline: now, closedAt: null, modelVersion: null, reason: null, metrics: {} });
    expect(repo.statusCounts('e', 1)).toEqual({ invited: 4 });
    repo.setResult('e', 1, 's2', 'accepted', { sampleCount: 12, metrics: { loss: 0.5 } });
    repo.setResult('e', 1, 's3', 'accepted', { sampleCount: 7 });
    repo.setResult('e', 1, 's4', 'rejected', { reason: 'norm' });
    expect(repo.statusCounts('e', 1)).toEqual({ invited: 1, accepted: 2, rejected: 1 });
    expect(repo.statusCounts('e', 2)).toEqual({ invited: 1 });
    expect(repo.statusCounts('e', 3)).toEqual({});
    expect(repo.result('e', 1, 's2')).toMatchObject({ siteId: 's2', status: 'accepted', sampleCount: 12, metrics: { loss: 0.5 } });
    expect(repo.result('e', 2, 's1')).toMatchObject({ siteId: 's1', status: 'invited' });
    expect(repo.result('e', 2, 's2')).toBeNull();
    // The same records as the full list.
    for (const r of repo.results('e', 1)) expect(repo.result('e', 1, r.siteId)).toEqual(r);
  });
});
