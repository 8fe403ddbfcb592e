import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startCoordinator, type RunningCoordinator } from '../app';
import { resolveCoordinatorConfig } from '../core/coordinator.config';

let running: RunningCoordinator | null = null;
let dir: string | null = null;

afterEach(async () => {
  await running?.close();
  running = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

/** The engine.io handshake a client receives (the server's heartbeat settings and message limit). */
async function handshake(url: string): Promise<{ pingInterval: number; pingTimeout: number; maxPayload: number }> {
  const text = await (await fetch(`${url}/socket.io/?EIO=4&transport=polling`)).text();
  expect(text.startsWith('0')).toBe(true); // engine.io "open" packet
  return JSON.parse(text.slice(1)) as { pingInterval: number; pingTimeout: number; maxPayload: number };
}

describe('socket.io heartbeat configuration', () => {
  it('sends the configured ping interval and timeout to clients, and a tolerant 60 s timeout by default', async () => {
    dir = mkdtempSync(join(tmpdir(), 'fedct-io-'));
    const base = { host: '127.0.0.1', port: 0, adminToken: 'io-test-admin-token-0123', schedulerIntervalMs: 100, verifyWorkers: 0 };
    running = await startCoordinator(resolveCoordinatorConfig({ ...base, dataDir: join(dir, 'a'), pingIntervalMs: 7_000, pingTimeoutMs: 45_000, limits: { maxMessageBytes: 3 * 1024 * 1024 } }), { logLevels: false });
    expect(await handshake(running.url)).toMatchObject({ pingInterval: 7_000, pingTimeout: 45_000, maxPayload: 3 * 1024 * 1024 });
    await running.close();
    running = await startCoordinator(resolveCoordinatorConfig({ ...base, dataDir: join(dir, 'b') }), { logLevels: false });
    expect(await handshake(running.url)).toMatchObject({ pingInterval: 25_000, pingTimeout: 60_000 });
  });
});
