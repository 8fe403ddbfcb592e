import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNativeAddon } from '@fedct/pipeline';

const ROOT = resolve(__dirname, '../../../..');

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'apps/site-agent/bin/fedct-site.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 90_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('fedct-site info', () => {
  it('reports the backend (native where it built, else wasm) and the exact paper parameter counts as one JSON object', () => {
    const r = cli('info', '--json', '--profile', 'paper');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const info = JSON.parse(lines[0] ?? '') as { backend: string; native?: { isa: string }; skippedBackends: { name: string; reason: string }[]; profile: string; models: { bcdunet: { params: number }; cnn3d: { params: number } } };
    const native = loadNativeAddon();
    expect(info.backend).toBe(native.available ? 'native' : 'wasm');
    if (native.available) expect(info.native?.isa).toBe(native.isa);
    else expect(info.skippedBackends.find((s) => s.name === 'native')?.reason).toBe(native.reason);
    expect(info.profile).toBe('paper');
    expect(info.models.bcdunet.params).toBe(5_167_365);
    expect(info.models.cnn3d.params).toBe(920_715);
  });

  it('FEDCT_BACKEND=wasm forces the wasm kernels (the fallback)', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'apps/site-agent/bin/fedct-site.js'), 'info', '--json', '--profile', 'tiny'], { cwd: ROOT, encoding: 'utf8', timeout: 90_000, env: { ...process.env, FEDCT_BACKEND: 'wasm' } });
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as { backend: string }).backend).toBe('wasm');
  });

  it('takes --site like every other command: the site\'s profile and backend', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'fedct-info-')), 'site');
    expect(cli('init', dir, '--profile', 'tiny', '--backend', 'cpu').code).toBe(0);
    const r = cli('info', '--json', '--site', dir);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ backend: 'cpu', profile: 'tiny' });
  });

  it('fails with a one-line error for an unknown profile', () => {
    const r = cli('info', '--profile', 'enormous');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/enormous/);
  });
});
