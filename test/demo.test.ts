/*
 * `npm run demo -- --profile tiny` end to end: a real coordinator and three real site daemons as
 * separate processes train both phases; the report must be complete and consistent, and the tiny
 * profile's thresholds (scripts/demo/thresholds.ts: federated 3-class accuracy above chance on the
 * external hospital by its 95 % interval, at least 3 federated classifier rounds) must be met. Site
 * training is seeded from the experiment settings, so a run repeats; timings are in docs/BENCHMARKS.md.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { wilsonInterval } from '@fedct/protocol';
import type { DemoReport } from '../scripts/demo/report/report.types';
import { runDemoProcess } from '../scripts/demo/spawn-demo';
import { checkReport } from '../scripts/demo/thresholds';

const ROOT = resolve(__dirname, '..');

describe('npm run demo --profile tiny', () => {
  it('trains both phases federatedly and writes a complete report', async () => {
    mkdirSync(join(ROOT, 'test-output'), { recursive: true });
    const out = mkdtempSync(join(ROOT, 'test-output', 'demo-tiny-'));
    const { code, output } = await runDemoProcess(['--profile', 'tiny', '--out', out], 420_000);
    expect(code, output.slice(-3000)).toBe(0);
    expect(output).toContain(`report: ${join(out, 'report.html')}`);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as DemoReport;
    expect(report.profile).toBe('tiny');
    expect(report.sites.map((s) => s.name)).toHaveLength(3);
    expect(new Set(report.sites.map((s) => s.scanner)).size).toBe(3);
    const published = report.rounds.filter((r) => r.state === 'published');
    expect(published.filter((r) => r.phase === 'denoiser').length).toBeGreaterThanOrEqual(1);
    expect(published.filter((r) => r.phase === 'classifier').length).toBeGreaterThanOrEqual(3);
    expect(published.every((r) => r.participants.length === 3)).toBe(true);
    expect(report.federated.test.n).toBe(report.external.counts.control + report.external.counts['covid-19'] + report.external.counts.cap);
    const t = report.federated.test;
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(t.confusion.flat().reduce((a, b) => a + b, 0)).toBe(t.n);
    expect(t.accuracy).toBeCloseTo(t.confusion.reduce((s, row, i) => s + (row[i] ?? 0), 0) / t.n, 12);
    expect(t.roc[0]).toEqual({ fpr: 0, tpr: 0 });
    expect(t.roc[t.roc.length - 1]).toEqual({ fpr: 1, tpr: 1 });
    expect(checkReport(report), `federated ${t.accuracy}, confusion ${JSON.stringify(t.confusion)}`).toEqual([]);
    // Better than chance (1/3) by the 95 % interval (at 30 studies: 16 or more right).
    expect(wilsonInterval(Math.round(t.accuracy * t.n), t.n)[0]).toBeGreaterThan(1 / 3);
    // Federated evaluation through the coordinator: every hospital on its val split, the external
    // hospital on its test set, which must agree with the in-process scoring of the same studies.
    expect(report.evaluation.map((v) => [v.site, v.split])).toEqual([...report.sites.map((s) => [s.name, 'val']), [report.external.name, 'test']]);
    for (const v of report.evaluation) {
      expect(v.confusion.flat().reduce((a, b) => a + b, 0)).toBe(v.n);
      expect(v.accuracy).toBeCloseTo(v.confusion.reduce((s, row, i) => s + (row[i] ?? 0), 0) / v.n, 12);
      expect(v.accuracyCi).toEqual(wilsonInterval(v.confusion.reduce((s, row, i) => s + (row[i] ?? 0), 0), v.n));
    }
    report.sites.forEach((s, i) => expect(report.evaluation[i]?.n).toBe(Object.values(s.counts.val).reduce((a, b) => a + b, 0)));
    const external = report.evaluation[report.sites.length];
    expect(external?.n).toBe(t.n);
    expect(external?.confusion).toEqual(t.confusion);
    expect(html).toContain('Federated evaluation at the sites');
    expect(report.singleSite).toHaveLength(3);
    expect(report.centralized.trainStudies).toBe(report.singleSite.reduce((s, b) => s + b.trainStudies, 0));
    expect(report.bytes.toSites).toBeGreaterThan(0);
    expect(report.bytes.fromSites).toBeGreaterThan(0);
    expect(html).toContain('paper (real patients)');
    expect(html).toMatch(/<img src="data:image\/png;base64,/);
    expect(html).not.toMatch(/(src|href)="https?:/);
    expect(existsSync(join(out, 'logs', 'coordinator.log'))).toBe(true);
    rmSync(out, { recursive: true, force: true });
  }, 450_000);
});
