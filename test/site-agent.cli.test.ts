import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generatePhantomStudy, writePhantomDicom } from '@fedct/pipeline';
import { daemonStatePath, enrollSite, importStudies, initSiteFolder, memoryLogger, type DaemonState } from '@fedct/site-agent';
import { ADMIN_TOKEN, startTestCoordinator, waitFor, waitForExperiment } from './helpers/coordinator-harness';
import { api } from '@fedct/site-agent/testing';

const BIN = resolve(__dirname, '..', 'apps', 'site-agent', 'bin', 'fedct-site.js');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

describe('fedct-site run (the daemon process)', () => {
  it('trains a round for the coordinator, logs JSON lines, reports its state, and stops on SIGTERM', { timeout: 120_000 }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'fedct-run-'));
    const dir = join(root, 'site');
    const site = initSiteFolder(dir, { name: 'hospital-r', profile: 'tiny' });
    await writePhantomDicom(generatePhantomStudy({ cls: 'control', seed: 9, scanner: 'tiny' }), join(root, 'control'));
    await importStudies(site, join(root, 'control'), { label: 'control', split: 'train', logger: memoryLogger() });
    const coordinator = await startTestCoordinator();
    cleanups.push(() => coordinator.dispose());
    const { token } = await api<{ token: string }>(coordinator.url, '/api/enrollment-tokens', ADMIN_TOKEN, 'POST', { siteName: 'hospital-r' });
    await enrollSite(site, { coordinatorUrl: coordinator.url, token });
    site.close();

    const child = spawn(process.execPath, [BIN, 'run', '--site', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
    cleanups.push(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    await waitFor(() => stderr.includes('authenticated with coordinator'), 60_000, 'the daemon to authenticate');
    const { id } = await api<{ id: string }>(coordinator.url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser', rounds: 1, minSites: 1, localEpochs: 1, batchSize: 16, learningRate: 1e-3, initSeed: 1, roundDeadlineSeconds: 120,
    });
    const done = await waitForExperiment(coordinator.url, id, (e) => e.status === 'completed', 90_000);
    expect(done.rounds[0]?.state).toBe('published');
    await waitFor(() => stderr.includes('update accepted by coordinator'), 10_000, 'the acceptance log line');

    const lines = stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string; backend?: string });
    expect(lines.find((l) => l.msg === 'site agent starting')?.backend).toMatch(/^(native|wasm|cpu|tensorflow|tensorflow-gpu)$/);
    const state = JSON.parse(readFileSync(daemonStatePath(site.paths), 'utf8')) as DaemonState;
    expect(state.lastRound).toMatchObject({ experiment: id, round: 1, result: 'accepted' });

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect((JSON.parse(readFileSync(daemonStatePath(site.paths), 'utf8')) as DaemonState).state).toBe('stopped');
  });
});
