import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../../../..');
const DATA = resolve(ROOT, '../shared/data/ct');
const HAS_DATA = existsSync(DATA);
if (!HAS_DATA) console.warn(`[preprocess.command.spec] ${DATA} is absent: the real-series CLI test is skipped`);
const tmp = mkdtempSync(join(tmpdir(), 'fedct-preprocess-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'apps/site-agent/bin/fedct-site.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface PreprocessJson {
  shape: number[];
  spacingMm: number[];
  sourceSlices: number;
  min: number;
  max: number;
  mean: number;
  series: { seriesInstanceUid: string; modality: string };
  warnings: string[];
}

describe('fedct-site preprocess', () => {
  const phantom = join(tmp, 'phantom');
  beforeAll(() => {
    const r = cli('phantom', '--out', phantom, '--class', 'covid-19', '--seed', '9');
    expect(r.code).toBe(0);
  });

  it('prints one JSON object per docs/cli.md for a phantom series', () => {
    const r = cli('preprocess', phantom, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const out = JSON.parse(r.stdout) as PreprocessJson;
    expect(Object.keys(out)).toEqual(expect.arrayContaining(['shape', 'spacingMm', 'sourceSlices', 'min', 'max', 'mean', 'series', 'warnings']));
    expect(out.shape.slice(1)).toEqual([128, 128]);
    expect(out.min).toBeGreaterThanOrEqual(0);
    expect(out.max).toBeLessThanOrEqual(1);
    expect(out.mean).toBeGreaterThan(out.min);
    expect(out.series.modality).toBe('CT');
    expect(out.warnings).toEqual([]);
    expect(Math.abs((out.spacingMm[0] as number) - 1)).toBeLessThan(0.05);
  });

  it.skipIf(!HAS_DATA)('gives 240 slices for the real 30 × 8 mm series', () => {
    const out = JSON.parse(cli('preprocess', join(DATA, 'lung-pet-ct-dx-A0002-8mm'), '--json').stdout) as PreprocessJson;
    expect(out.shape).toEqual([240, 128, 128]);
    expect(out.sourceSlices).toBe(30);
  });

  it('prints a readable summary without --json', () => {
    const r = cli('preprocess', phantom);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/volume\s+\d+ x 128 x 128/);
  });

  it.each([
    ['an empty folder', (): string => {
      const d = join(tmp, 'empty');
      mkdirSync(d, { recursive: true });
      return d;
    }, /empty folder/],
    ['a file that is not DICOM', (): string => {
      const f = join(tmp, 'note.dcm');
      writeFileSync(f, 'hello'.repeat(100));
      return f;
    }, /not a DICOM file/],
  ])('refuses %s with one line on stderr and exit code 1', (_what, make, message) => {
    const r = cli('preprocess', make(), '--json');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/); // no stack trace
  });
});
