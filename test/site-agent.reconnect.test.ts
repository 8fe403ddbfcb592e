/*
 * A graceful coordinator restart (SIGTERM, what `systemctl restart` sends) that takes longer than the
 * daemons' timeouts: every site daemon process stays up, connects again on its own once the
 * coordinator is back, and the next round completes. (The coordinator's session close is one that
 * socket.io does not retry by itself; daemons used to exit with status 0 there.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { encodeModelBlob } from '@fedct/protocol';
import { enrollSite, initSiteFolder } from '@fedct/site-agent';
import { ToyEngine, api, uploadModel } from '@fedct/site-agent/testing';
import { ADMIN_TOKEN, waitFor, waitForExperiment } from './helpers/coordinator-harness';

const ROOT = resolve(__dirname, '..');
const COORDINATOR = join(ROOT, 'apps', 'coordinator', 'bin', 'fedct-coordinator.js');
const DOWN_MS = 30_000;
const SIZE = 12;

function startCoordinator(config: string, port: number): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [COORDINATOR, 'start', '--config', config], { env: { ...process.env, FEDCT_PORT: String(port), FEDCT_LOG_FORMAT: 'json' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((ok, fail) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /^fedct-coordinator listening on (http:\/\/\S+)$/.exec(line);
      if (match) ok({ child, url: match[1]! });
    });
    child.once('exit', (code) => fail(new Error(`coordinator exited with ${code}: ${stderr}`)));
  });
}

/** A toy daemon process and what it logged. */
function startDaemon(dir: string): { child: ChildProcess; lines: Record<string, unknown>[]; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'run-ts.js'), join(ROOT, 'test', 'helpers', 'toy-daemon.ts'), dir, String(SIZE)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      lines.push({ msg: line });
    }
  });
  return { child, lines, exit: new Promise((done) => child.once('exit', (code) => done(code))) };
}

describe('a coordinator restart with SIGTERM', () => {
  const root = mkdtempSync(join(tmpdir(), 'fedct-reconnect-'));
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  it('leaves every site daemon running; they reconnect on their own and the next round completes', async () => {
    const config = join(root, 'coordinator.yaml');
    writeFileSync(config, `host: 127.0.0.1\ndataDir: ${join(root, 'data')}\nadminToken: ${ADMIN_TOKEN}\nschedulerIntervalMs: 100\n`);
    let coordinator = await startCoordinator(config, 0);
    children.push(coordinator.child);
    const port = Number(new URL(coordinator.url).port);
    const engine = new ToyEngine(SIZE);
    const base = await uploadModel(coordinator.url, ADMIN_TOKEN, encodeModelBlob(engine.init(7, 'bcdunet')));
    const daemons: ReturnType<typeof startDaemon>[] = [];
    for (const name of ['north', 'south']) {
      const dir = join(root, name);
      const site = initSiteFolder(dir, { name });
      // The daemons' back-off, as a hospital might set it (the default waits up to a minute between tries).
      const yaml = parseDocument(readFileSync(join(dir, 'site.yaml'), 'utf8'));
      yaml.setIn(['daemon', 'reconnectMaxMs'], 4000);
      writeFileSync(join(dir, 'site.yaml'), yaml.toString());
      const data = new Float32Array(4 * 16 * 16).fill(0.25);
      const sha = site.volumes.put(data, [4, 16, 16], [1, 1, 1]);
      site.index.upsert({ seriesInstanceUid: `1.2.${name}`, studyInstanceUid: null, label: 'control', split: 'train', sourcePath: `/nowhere/${name}`, volumeSha256: sha, shape: [4, 16, 16], spacingMm: [1, 1, 1], sourceSlices: 4, scanner: '', warnings: [], importedAt: new Date().toISOString() });
      const { token } = await api<{ token: string }>(coordinator.url, '/api/enrollment-tokens', ADMIN_TOKEN, 'POST', { siteName: name });
      await enrollSite(site, { coordinatorUrl: coordinator.url, token });
      site.close();
      const daemon = startDaemon(dir);
      children.push(daemon.child);
      daemons.push(daemon);
    }
    const authenticated = (d: { lines: Record<string, unknown>[] }): number => d.lines.filter((l) => l.msg === 'authenticated with coordinator').length;
    await waitFor(() => daemons.every((d) => authenticated(d) === 1), 30_000, 'both daemons online');

    // Graceful shutdown; back after longer than the daemons' timeouts.
    coordinator.child.kill('SIGTERM');
    await new Promise((r) => coordinator.child.once('exit', r));
    await waitFor(() => daemons.every((d) => d.lines.some((l) => l.msg === 'disconnected from coordinator')), 10_000, 'both daemons to notice');
    await new Promise((r) => setTimeout(r, DOWN_MS));
    const exited = await Promise.race([Promise.all(daemons.map((d) => d.exit)).then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 10))]);
    expect(exited, JSON.stringify(daemons.map((d) => d.lines.slice(-3)))).toBe(false);
    for (const d of daemons) expect(d.child.exitCode).toBeNull();
    coordinator = await startCoordinator(config, port);
    children.push(coordinator.child);
    await waitFor(() => daemons.every((d) => authenticated(d) === 2), 30_000, 'both daemons online again');

    const { id } = await api<{ id: string }>(coordinator.url, '/api/experiments', ADMIN_TOKEN, 'POST', { phase: 'denoiser', rounds: 1, minSites: 2, roundDeadlineSeconds: 60, initialModel: base.version });
    const done = await waitForExperiment(coordinator.url, id, (e) => e.status === 'completed', 60_000);
    expect(done.status).toBe('completed');
  }, 150_000);
});
