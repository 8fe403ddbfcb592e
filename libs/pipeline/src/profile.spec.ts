import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@fedct/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend';
import { createBcduNet } from './models/bcdunet';
import { createCnn3d } from './models/cnn3d';
import { classifierSizeProblem, loadProfile, PROFILE_NAMES } from './profile';

describe(loadProfile.name, () => {
  let dir = '';
  beforeAll(async () => {
    await initBackend('wasm');
    dir = await mkdtemp(join(tmpdir(), 'fedct-profile-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(PROFILE_NAMES)('loads the built-in %s profile, whose models can be built', (name) => {
    const profile = loadProfile(name);
    expect(profile.name).toBe(name);
    expect(classifierSizeProblem(profile.models.cnn3d.inputShape, profile.models.bcdunet.size)).toBeNull();
    if (name !== 'paper') {
      createBcduNet(profile.models.bcdunet).dispose();
      createCnn3d(profile.models.cnn3d).dispose();
    }
  });

  it('lets the classifier read infection maps at the denoiser\'s size or smaller, square only', () => {
    expect(classifierSizeProblem([12, 32, 32], 64)).toBeNull();
    expect(classifierSizeProblem([12, 64, 64], 64)).toBeNull();
    expect(classifierSizeProblem([12, 128, 128], 64)).toMatch(/128 × 128.*at most models\.bcdunet\.size \(64\)/);
    expect(classifierSizeProblem([12, 32, 16], 64)).toMatch(/must be equal/);
  });

  it('has the exact paper sizes and hyper-parameters in the paper profile', () => {
    const paper = loadProfile('paper');
    expect(paper.models.bcdunet).toEqual({ size: 128, base: 32, dropout: 0.5 });
    expect(paper.models.cnn3d).toEqual({ inputShape: [50, 128, 128], filters: [8, 16, 32, 64, 128], denseUnits: 32, dropout: 0.3, classes: 3 });
    expect(paper.training.denoiser).toMatchObject({ batchSize: 5, learningRate: 0.001 });
    expect(paper.training.classifier).toMatchObject({ batchSize: 16, learningRate: 0.0001, epochs: 100 });
  });

  it('keeps unknown top-level sections and the demo section', async () => {
    const file = join(dir, 'custom.yaml');
    await writeFile(file, [
      'name: custom', 'models:', '  bcdunet: { size: 16, base: 2 }', '  cnn3d: { inputShape: [8, 16, 16], filters: [2] }',
      'training:', '  denoiser: { epochs: 1, batchSize: 2, learningRate: 0.01 }', '  classifier: { epochs: 1, batchSize: 2, learningRate: 0.01 }',
      'demo: { hospitals: 3 }', 'federation: { rounds: 2 }',
    ].join('\n'));
    const profile = loadProfile(file);
    expect(profile.demo).toEqual({ hospitals: 3 });
    expect((profile as Record<string, unknown>).federation).toEqual({ rounds: 2 });
    expect(profile.backend).toBe('auto');
    expect(profile.training.denoiser.noisyFraction).toBe(0.5);
  });

  it('rejects a profile whose classifier does not read the denoiser output size, in one line', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, [
      'name: bad', 'models:', '  bcdunet: { size: 16, base: 2 }', '  cnn3d: { inputShape: [8, 32, 32], filters: [2] }',
      'training:', '  denoiser: { epochs: 1, batchSize: 2, learningRate: 0.01 }', '  classifier: { epochs: 1, batchSize: 2, learningRate: 0.01 }',
    ].join('\n'));
    expect(() => loadProfile(file)).toThrow(ConfigError);
    expect(() => loadProfile(file)).toThrow(/models\.cnn3d\.inputShape/);
    expect(() => loadProfile('huge')).toThrow(/Unknown profile "huge"/);
  });
});
