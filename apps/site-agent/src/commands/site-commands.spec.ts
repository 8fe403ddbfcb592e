import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = resolve(__dirname, '..', '..', 'bin', 'fedct-site.js');

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, FEDCT_SITE_DIR: '' } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('fedct-site init / status / data', () => {
  it('creates a site, then reports it as not enrolled with an empty dataset', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'fedct-cli-')), 'site');
    const init = cli('init', dir, '--name', 'st-mary', '--json');
    expect(init.code).toBe(0);
    const created = JSON.parse(init.stdout) as { site: string; fingerprint: string };
    expect(created.site).toBe('st-mary');
    const status = cli('status', '--site', dir, '--json');
    expect(status.code).toBe(0);
    const body = JSON.parse(status.stdout) as { fingerprint: string; enrolled: unknown; dataset: { studies: number } };
    expect(body.fingerprint).toBe(created.fingerprint);
    expect(body.enrolled).toBeNull();
    expect(body.dataset.studies).toBe(0);
    const data = cli('data', '--site', dir);
    expect(data.stdout).toContain('0 studies');
  });

  it('status says "not running" for a daemon whose process is gone, and shows the last round and its result', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'fedct-cli-')), 'site');
    expect(cli('init', dir).code).toBe(0);
    const gone = spawnSync(process.execPath, ['-e', '0']).pid; // a process that has exited
    const state = (pid: number, value: string) => ({
      state: value, since: '2026-12-04T10:00:00.000Z', pid, backend: 'native', coordinator: 'http://127.0.0.1:1', task: 'exp-1/3',
      lastRound: { experiment: 'exp-1', round: 2, result: 'accepted', detail: 'update v7 accepted', at: '2026-12-04T09:59:00.000Z' }, lastError: null,
    });
    mkdirSync(join(dir, 'transfers'), { recursive: true });
    writeFileSync(join(dir, 'transfers', 'daemon-state.json'), JSON.stringify(state(gone, 'online')));
    const dead = cli('status', '--site', dir);
    expect(dead.stdout).toMatch(new RegExp(`daemon: +not running \\(process ${gone} is gone; its last state was written 2026-12-04T10:00:00.000Z\\), backend native\n`));
    expect(dead.stdout).toMatch(/last round: +exp-1 round 2: accepted \(update v7 accepted\) at 2026-12-04T09:59:00.000Z/);
    expect(JSON.parse(cli('status', '--site', dir, '--json').stdout)).toMatchObject({ daemon: { state: 'not running', running: false, pid: gone } });
    // This test's own process stands in for a live daemon.
    writeFileSync(join(dir, 'transfers', 'daemon-state.json'), JSON.stringify(state(process.pid, 'training')));
    expect(cli('status', '--site', dir).stdout).toMatch(/daemon: +training since 2026-12-04T10:00:00.000Z, backend native, task exp-1\/3/);
  });

  it('import reports a corrupt study as skipped, with structured log lines when not on a terminal', () => {
    const root = mkdtempSync(join(tmpdir(), 'fedct-cli-'));
    const dir = join(root, 'site');
    expect(cli('init', dir).code).toBe(0);
    mkdirSync(join(root, 'bad'));
    writeFileSync(join(root, 'bad', 'x.dcm'), 'garbage');
    const result = cli('import', join(root, 'bad'), '--label', 'cap', '--site', dir);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/Imported 0 new cap studies .* 1 skipped/);
    const logLine = result.stderr.split('\n').find((l) => l.includes('study skipped'));
    expect(JSON.parse(logLine ?? '{}')).toMatchObject({ level: 'warn', msg: 'study skipped', path: join(root, 'bad') });
    expect(cli('import', root, '--label', 'flu', '--site', dir).stderr).toMatch(/--label must be one of control, covid-19, cap/);
    expect(cli('import', root, '--site', dir).stderr).toMatch(/give --label \(control, covid-19, cap\), --labels-from-folders or --archive/);
    expect(cli('import', root, '--label', 'cap', '--archive', '--site', dir).stderr).toMatch(/use one of --label, --labels-from-folders .* or --archive/);
    expect(cli('import', root, '--labels-from-folders', '--site', dir).stderr.trim()).toMatch(/has no class folder \(control, covid-19, cap\)$/);
  });

  it('a re-import with another label keeps the study as it was and says so; relabel and remove correct the dataset', () => {
    const root = mkdtempSync(join(tmpdir(), 'fedct-cli-'));
    const dir = join(root, 'site');
    expect(cli('init', dir).code).toBe(0);
    const study = join(root, 'studies', 's1');
    expect(cli('phantom', '--out', study, '--class', 'cap', '--seed', '1').code).toBe(0);
    expect(cli('import', join(root, 'nowhere'), '--label', 'cap', '--site', dir).stderr.trim()).toBe(`fedct-site: ${join(root, 'nowhere')} does not exist`);
    expect(cli('import', study, '--label', 'cap', '--site', dir).code).toBe(0);
    const again = cli('import', study, '--label', 'covid-19', '--split', 'val', '--site', dir);
    expect(again.stdout).toContain('1 already present with another label or split, kept as they were');
    expect(again.stdout).toContain(`${study}: cap/train (this import asked covid-19/val)`);
    const listed = () => JSON.parse(cli('data', '--site', dir, '--json').stdout) as { studies: { label: string; split: string; seriesInstanceUid: string; volumeSha256: string }[] };
    expect(listed().studies.map((x) => [x.label, x.split])).toEqual([['cap', 'train']]);
    expect(cli('relabel', study, '--label', 'covid-19', '--split', 'val', '--site', dir).stdout.trim()).toBe(`${study}: cap/train -> covid-19/val`);
    const [relabelled] = listed().studies;
    expect([relabelled?.label, relabelled?.split]).toEqual(['covid-19', 'val']);
    expect(cli('relabel', 'no.such.series', '--label', 'cap', '--site', dir).stderr).toMatch(/no study no\.such\.series in this site's dataset/);
    expect(existsSync(join(dir, 'cache', 'volumes', `${relabelled?.volumeSha256}.f32`))).toBe(true);
    const removed = cli('remove', relabelled?.seriesInstanceUid ?? '', '--site', dir);
    expect(removed.stdout).toMatch(/removed .* \(covid-19\/val\) from the dataset; 2 cached file\(s\) deleted; the source files are untouched/);
    expect(listed().studies).toEqual([]);
    expect(existsSync(join(dir, 'cache', 'volumes', `${relabelled?.volumeSha256}.f32`))).toBe(false);
    expect(existsSync(study)).toBe(true);
  });

  it('import --labels-from-folders gives each class folder\'s studies its class', () => {
    const root = mkdtempSync(join(tmpdir(), 'fedct-cli-'));
    const dir = join(root, 'site');
    expect(cli('init', dir).code).toBe(0);
    for (const [cls, seed] of [['control', 1], ['cap', 2], ['cap', 3]] as const) {
      expect(cli('phantom', '--out', join(root, 'studies', cls, `s${seed}`), '--class', cls, '--seed', String(seed)).code).toBe(0);
    }
    mkdirSync(join(root, 'studies', 'notes'));
    const result = cli('import', join(root, 'studies'), '--labels-from-folders', '--split', 'val', '--site', dir, '--json');
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as { imported: number; byLabel: { label: string; imported: number }[] };
    expect(summary.imported).toBe(3);
    expect(summary.byLabel.map((b) => [b.label, b.imported])).toEqual([['control', 1], ['cap', 2]]);
    const data = JSON.parse(cli('data', '--site', dir, '--json').stdout) as { studies: { label: string; split: string }[] };
    expect(data.studies.map((st) => `${st.label}/${st.split}`).sort()).toEqual(['cap/val', 'cap/val', 'control/val']);
  });

  it('run and enroll explain what is missing in one line', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'fedct-cli-')), 'site');
    expect(cli('init', dir).code).toBe(0);
    const run = cli('run', '--site', dir);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toMatch(/^fedct-site: site \S+ is not enrolled: run `fedct-site enroll --coordinator URL --token TOKEN` first$/);
    const enroll = cli('enroll', '--site', dir, '--coordinator', 'not a url', '--token', 't');
    expect(enroll.code).toBe(1);
    expect(enroll.stderr.trim().split('\n')).toHaveLength(1);
    expect(enroll.stderr).toMatch(/--coordinator must be a URL/);
  });

  it('answers a missing site folder with one line and exit code 1', () => {
    const result = cli('status', '--site', join(tmpdir(), 'fedct-no-such-site'));
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/fedct-site init/);
  });
});
