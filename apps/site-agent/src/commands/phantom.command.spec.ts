import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../../../..');
const tmp = mkdtempSync(join(tmpdir(), 'fedct-phantom-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'apps/site-agent/bin/fedct-site.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('fedct-site phantom', () => {
  it('writes a DICOM series and says what it wrote', () => {
    const out = join(tmp, 'cap');
    const r = cli('phantom', '--out', out, '--class', 'cap', '--seed', '4', '--scanner', 'tiny', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { files: number; class: string; seed: number; scanner: string; shape: number[] };
    expect(summary).toMatchObject({ class: 'cap', seed: 4, scanner: 'tiny' });
    expect(readdirSync(out).filter((f) => f.endsWith('.dcm'))).toHaveLength(summary.files);
    expect(summary.shape[0]).toBe(summary.files);
  });

  it('refuses an unknown class with one line and exit code 1', () => {
    const r = cli('phantom', '--out', join(tmp, 'x'), '--class', 'flu', '--seed', '1');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--class must be one of control, covid-19, cap/);
  });

  it('refuses an unknown scanner, listing the profiles', () => {
    const r = cli('phantom', '--out', join(tmp, 'y'), '--class', 'control', '--seed', '1', '--scanner', 'nope');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/tiny.*ge-lightspeed/);
  });
});
