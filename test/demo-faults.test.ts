/*
 * Fault injection on the real programs: `npm run demo -- --profile tiny --faults` kills one hospital's
 * daemon mid-round and restarts it, and kills the coordinator mid-experiment and restarts it on the
 * same data folder. The run must still finish with a report, and no published model may be lost.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DemoReport } from '../scripts/demo/report/report.types';
import { runDemoProcess } from '../scripts/demo/spawn-demo';

const ROOT = resolve(__dirname, '..');

describe('npm run demo --profile tiny --faults', () => {
  it('survives a killed hospital daemon and a killed coordinator without losing a published model', async () => {
    mkdirSync(join(ROOT, 'test-output'), { recursive: true });
    const out = mkdtempSync(join(ROOT, 'test-output', 'demo-faults-'));
    // Smaller than the tiny profile (this test is about surviving faults, not accuracy): 6 studies per
    // hospital, 10 external, 5 classifier rounds of one epoch.
    const settings = join(out, 'faults-settings.yaml');
    writeFileSync(settings, [
      'hospitals:',
      ...['tiny', 'ge-lightspeed', 'toshiba-aquilion'].flatMap((scanner, i) => [
        `  - { name: hospital-${'abc'[i]}, scanner: ${scanner}, train: { control: 2, covid-19: 2, cap: 2 }, val: { control: 1, covid-19: 1, cap: 1 } }`,
      ]),
      'external: { name: external-hospital, scanner: tiny, counts: { control: 4, covid-19: 3, cap: 3 } }',
      'classifier: { rounds: 5, localEpochs: 1 }',
      '',
    ].join('\n'));
    const { code, output } = await runDemoProcess(['--profile', 'tiny', '--out', out, '--faults', '--settings', settings], 290_000);
    expect(code, output.slice(-3000)).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as DemoReport;
    expect(report.faults.map((f) => f.kind)).toEqual(['site-killed', 'site-restarted', 'coordinator-killed', 'coordinator-restarted']);
    expect(output).toMatch(/all \d+ models published before the coordinator was killed are still there/);
    // every round that published names a model the registry still holds, with the same identity
    const registry = new Map(report.federated.publishedModels.map((m) => [m.version, m.sha256]));
    for (const r of report.rounds.filter((x) => x.state === 'published')) expect(registry.has(r.modelVersion ?? '')).toBe(true);
    expect(registry.get(report.federated.classifier.version)).toBe(report.federated.classifier.sha256);
    const classifierRounds = report.rounds.filter((r) => r.phase === 'classifier' && r.state === 'published');
    expect(classifierRounds.length).toBeGreaterThanOrEqual(3);
    // the restarted hospital took part again after its restart
    const victim = report.faults[0]?.target ?? '';
    expect(classifierRounds.some((r) => r.participants.includes(victim))).toBe(true);
    expect(report.federated.test.n).toBeGreaterThan(0);
    rmSync(out, { recursive: true, force: true });
  }, 300_000);
});
