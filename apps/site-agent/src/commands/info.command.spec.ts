import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../../../..');

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'apps/site-agent/bin/fedct-site.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 90_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('fedct-site info', () => {
  it('reports the wasm backend and the exact paper parameter counts as one JSON object', () => {
    const r = cli('info', '--json', '--profile', 'paper');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const info = JSON.parse(lines[0] ?? '') as { backend: string; profile: string; models: { bcdunet: { params: number }; cnn3d: { params: number } } };
    expect(info.backend).toBe('wasm');
    expect(info.profile).toBe('paper');
    expect(info.models.bcdunet.params).toBe(5_167_365);
    expect(info.models.cnn3d.params).toBe(920_715);
  });

  it('fails with a one-line error for an unknown profile', () => {
    const r = cli('info', '--profile', 'enormous');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/enormous/);
  });
});
