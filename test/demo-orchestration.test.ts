import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_DEFAULTS, loadDemoSettings } from '../scripts/demo/demo-settings';
import { DemoError } from '../scripts/demo/errors';
import { roundMetrics } from '../scripts/demo/federation';
import { planPhantoms } from '../scripts/demo/hospitals';
import { summarizeDaemonLine } from '../scripts/demo/daemon-lines';
import { Supervisor } from '../scripts/demo/supervisor';
import { checkReport } from '../scripts/demo/thresholds';
import { CLASS_NAMES, type DemoReport } from '../scripts/demo/report/report.types';

const temps: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fedct-demo-'));
  temps.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe(loadDemoSettings.name, () => {
  it('merges the profile file\'s demo section over the built-in defaults', () => {
    const root = tempDir();
    mkdirSync(join(root, 'configs', 'profiles'), { recursive: true });
    writeFileSync(
      join(root, 'configs', 'profiles', 'tiny.yaml'),
      'models:\n  bcdunet: { size: 16, base: 2 }\n  cnn3d: { inputShape: [8, 16, 16], filters: [2], denseUnits: 4, dropout: 0.1 }\ndemo:\n  seed: 9\n  classifier:\n    rounds: 4\n',
    );
    const settings = loadDemoSettings('tiny', root);
    expect(settings.networks).toEqual({ bcdunet: { size: 16, base: 2 }, cnn3d: { inputShape: [8, 16, 16], filters: [2], denseUnits: 4, dropout: 0.1, classes: 3 } });
    expect(settings.seed).toBe(9);
    expect(settings.classifier.rounds).toBe(4);
    expect(settings.classifier.localEpochs).toBe(DEMO_DEFAULTS.tiny.classifier.localEpochs);
    expect(settings.hospitals).toEqual(DEMO_DEFAULTS.tiny.hospitals);
  });

  it('names the file and the field of an invalid demo section in one line', () => {
    const root = tempDir();
    mkdirSync(join(root, 'configs', 'profiles'), { recursive: true });
    writeFileSync(join(root, 'configs', 'profiles', 'tiny.yaml'), 'models:\n  bcdunet: { size: 16, base: 2 }\n  cnn3d: { inputShape: [8, 16, 16], filters: [2], denseUnits: 4, dropout: 0.1 }\ndemo:\n  classifier:\n    rounds: -1\n');
    expect(() => loadDemoSettings('tiny', root)).toThrow(/tiny\.yaml: demo\.classifier\.rounds/);
  });

  it('takes the network sizes from the repository\'s profile files', () => {
    const settings = loadDemoSettings('tiny', process.cwd());
    expect(settings.networks.cnn3d.inputShape[1]).toBe(settings.networks.bcdunet.size);
  });

  it('refuses an unknown profile', () => {
    expect(() => loadDemoSettings('huge', tempDir())).toThrow(DemoError);
  });
});

describe(planPhantoms.name, () => {
  it('plans every study of every hospital and the external test set with distinct seeds', () => {
    const settings = DEMO_DEFAULTS.tiny;
    const jobs = planPhantoms(settings, '/data');
    const perHospital = (name: string, split: 'train' | 'val'): number => jobs.filter((j) => j.owner === name && j.split === split).length;
    for (const h of settings.hospitals) {
      expect(perHospital(h.name, 'train')).toBe(h.train.control + h.train['covid-19'] + h.train.cap);
      expect(perHospital(h.name, 'val')).toBe(h.val.control + h.val['covid-19'] + h.val.cap);
      expect(jobs.filter((j) => j.owner === h.name).every((j) => j.scanner === h.scanner)).toBe(true);
    }
    const test = jobs.filter((j) => j.split === 'test');
    expect(test.filter((j) => j.cls === 'covid-19')).toHaveLength(settings.external.counts['covid-19']);
    expect(new Set(jobs.map((j) => j.seed)).size).toBe(jobs.length);
    expect(new Set(jobs.map((j) => j.dir)).size).toBe(jobs.length);
  });

  it('adds the external hospital\'s unlabeled archive after every other study, each scanner model in turn', () => {
    const settings = DEMO_DEFAULTS.default;
    const jobs = planPhantoms(settings, '/data');
    const archive = jobs.filter((j) => j.split === 'calibration');
    const counts = settings.external.calibration!;
    expect(archive).toHaveLength(counts.control + counts['covid-19'] + counts.cap);
    expect(archive.every((j) => j.owner === settings.external.name)).toBe(true);
    // Three scanner models, nine studies of each class: three of each class per scanner model.
    for (const scanner of settings.external.scanner as string[]) {
      for (const cls of CLASS_NAMES) expect(archive.filter((j) => j.scanner === scanner && j.cls === cls)).toHaveLength(3);
    }
    expect(new Set(jobs.map((j) => j.seed)).size).toBe(jobs.length);
    // Without the archive, every other study is the same study.
    const without = planPhantoms({ ...settings, external: { ...settings.external, calibration: undefined } }, '/data');
    expect(jobs.slice(0, without.length)).toEqual(without);
  });
});

describe(roundMetrics.name, () => {
  it('weights each accepted site\'s metrics by its sample count and ignores other results', () => {
    const { loss, metrics } = roundMetrics({
      round: 1,
      state: 'published',
      participants: ['a', 'b', 'c'],
      modelVersion: 'v1',
      metrics: {},
      results: [
        { siteId: 'a', status: 'accepted', sampleCount: 10, metrics: { loss: 1, val_accuracy: 0.5 } },
        { siteId: 'b', status: 'accepted', sampleCount: 30, metrics: { loss: 2, val_accuracy: 0.9 } },
        { siteId: 'c', status: 'rejected', sampleCount: 100, metrics: { loss: 50 } },
      ],
    });
    expect(loss).toBeCloseTo((10 * 1 + 30 * 2) / 40, 12);
    expect(metrics.val_accuracy).toBeCloseTo((10 * 0.5 + 30 * 0.9) / 40, 12);
    expect(metrics).not.toHaveProperty('loss');
  });
});

describe(summarizeDaemonLine.name, () => {
  it('unpacks JSON log lines and keeps only the interesting ones', () => {
    expect(summarizeDaemonLine('{"time":"t","level":"info","msg":"local training done","round":2,"samples":8}')).toBe('local training done round=2 samples=8');
    expect(summarizeDaemonLine('{"time":"t","level":"info","msg":"heartbeat sent"}')).toBeNull();
  });
});

describe(Supervisor.name, () => {
  it('waits for a printed line, reports a failing command with its output, and stops every child', async () => {
    const supervisor = new Supervisor(join(tempDir(), 'logs'), process.cwd());
    const server = supervisor.start('server', '-e', ['console.log("listening on http://127.0.0.1:1234"); setInterval(() => {}, 1000);']);
    const match = await server.waitForLine(/listening on (\S+)/, 10_000);
    expect(match[1]).toBe('http://127.0.0.1:1234');
    await expect(supervisor.run('bad', '-e', ['console.error("disk full"); process.exit(4)'])).rejects.toThrow(/bad failed \(exit code 4\): disk full/);
    expect(supervisor.running()).toHaveLength(1);
    await supervisor.stopAll(1000);
    expect(server.running).toBe(false);
    expect(supervisor.running()).toHaveLength(0);
  });

  it('fails a wait when the process exits first', async () => {
    const supervisor = new Supervisor(join(tempDir(), 'logs'), process.cwd());
    const proc = supervisor.start('quitter', '-e', ['console.log("bye")']);
    await expect(proc.waitForLine(/never/, 10_000)).rejects.toThrow(/quitter exited/);
  });
});

function report(overrides: { accuracy: number; best: number; rounds: number; registry?: boolean; profile?: string; n?: number }): DemoReport {
  const test = { accuracy: overrides.accuracy, n: overrides.n ?? 30 } as DemoReport['federated']['test'];
  const rounds = Array.from({ length: overrides.rounds }, (_, i) => ({ phase: 'classifier' as const, experiment: 'e', index: i + 1, participants: [], loss: 1, metrics: {}, modelVersion: `v${i + 1}`, state: 'published' }));
  const models = rounds.map((r) => ({ version: r.modelVersion, sha256: r.modelVersion.repeat(8) }));
  const last = models[models.length - 1] ?? { version: 'v0', sha256: 'x' };
  return {
    profile: overrides.profile ?? 'default',
    rounds,
    federated: { denoiser: last, classifier: last, publishedModels: overrides.registry === false ? models.slice(1) : models, secureAggregation: true, test },
    singleSite: [{ name: 'a', epochs: 1, trainStudies: 1, trainMs: 1, test: { accuracy: overrides.best } as DemoReport['federated']['test'] }],
  } as unknown as DemoReport;
}

describe(checkReport.name, () => {
  it('passes a default-profile report that meets every threshold', () => {
    expect(checkReport(report({ accuracy: 0.93, best: 0.8, rounds: 5 }))).toEqual([]);
  });

  it('names each missed threshold', () => {
    const problems = checkReport(report({ accuracy: 0.85, best: 0.9, rounds: 2, registry: false }));
    expect(problems.join('\n')).toMatch(/below 90 %/);
    expect(problems.join('\n')).toMatch(/2 published classifier rounds/);
    expect(problems.join('\n')).toMatch(/not ahead of the best single site/);
    expect(problems.join('\n')).toMatch(/v1 .* missing from the registry/);
  });

  it('asks the tiny profile for better than chance by the 95 % interval: 16 of 30 pass, 15 do not', () => {
    expect(checkReport(report({ profile: 'tiny', accuracy: 16 / 30, best: 0.9, rounds: 3 }))).toEqual([]);
    expect(checkReport(report({ profile: 'tiny', accuracy: 15 / 30, best: 0.9, rounds: 3 })).join('\n')).toMatch(/not above chance: its 95 % interval starts at 33\.2 %/);
  });
});
