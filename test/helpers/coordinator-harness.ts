import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveCoordinatorConfig, startCoordinator, type CoordinatorConfigInput, type RunningCoordinator } from '@fedct/coordinator';
import { api } from '@fedct/site-agent/testing';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const READ_TOKEN = 'test-read-token-0123456789ab';

/** A coordinator in this process on 127.0.0.1:0 with a temporary data folder. */
export async function startTestCoordinator(overrides: Partial<CoordinatorConfigInput> = {}): Promise<RunningCoordinator & { dataDir: string; dispose(): Promise<void> }> {
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'fedct-coord-'));
  const running = await startCoordinator(
    resolveCoordinatorConfig({ host: '127.0.0.1', port: 0, adminToken: ADMIN_TOKEN, readOnlyToken: READ_TOKEN, schedulerIntervalMs: 100, ...overrides, dataDir }),
    { logLevels: process.env.FEDCT_TEST_LOGS === '1' ? ['error', 'warn'] : false },
  );
  return {
    ...running,
    dataDir,
    dispose: async () => {
      await running.close();
      if (!overrides.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ExperimentStatus {
  id: string;
  status: string;
  currentModel: string | null;
  publishedRounds: number;
  rounds: { round: number; state: string; participants: string[]; modelVersion: string | null; reason: string | null; metrics: Record<string, number>; results: { siteId: string; status: string; reason: string | null }[] }[];
}

/** Polls the experiment until `predicate` holds (or fails after `timeoutMs`). */
export async function waitForExperiment(url: string, id: string, predicate: (e: ExperimentStatus) => boolean, timeoutMs = 20_000): Promise<ExperimentStatus> {
  const until = Date.now() + timeoutMs;
  let last: ExperimentStatus | null = null;
  while (Date.now() < until) {
    last = await api<ExperimentStatus>(url, `/api/experiments/${id}`, ADMIN_TOKEN);
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`experiment ${id} did not reach the expected state; last: ${JSON.stringify(last)}`);
}

/** Resolves when `predicate` holds, polling every 20 ms. */
export async function waitFor(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
