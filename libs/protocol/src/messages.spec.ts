import { describe, expect, it } from 'vitest';
import { authMessage, chunkManifestSchema, fail, heartbeatSchema, NO_BASE_MODEL, ok, publishedModelSchema, scheduledLearningRate, taskSchema, updateChunkSchema } from './messages';
import { createExperimentSchema } from './rest';

const task = {
  experiment: 'exp-1',
  phase: 'denoiser',
  round: 1,
  baseModel: { version: 'v1', sha256: 'a'.repeat(64), bytes: 100 },
  initSeed: 0,
  denoiser: null,
  hyper: { localEpochs: 1, batchSize: 4, learningRate: 0.001, dp: { required: false }, secureAgg: false },
  deadline: '2026-01-01T00:00:00.000Z',
  normBound: null,
  chunkSize: 524288,
};

describe(scheduledLearningRate.name, () => {
  it('keeps the rate constant, or lowers it along a half cosine to a tenth by the last round', () => {
    expect([1, 2, 5].map((r) => scheduledLearningRate(1e-3, 'constant', r, 5))).toEqual([1e-3, 1e-3, 1e-3]);
    // By hand for 5 rounds: 1e-3 · (0.1 + 0.45 · (1 + cos(π · k / 4))), k = 0..4.
    const want = [1e-3, 1e-3 * (0.1 + 0.45 * (1 + Math.SQRT1_2)), 0.55e-3, 1e-3 * (0.1 + 0.45 * (1 - Math.SQRT1_2)), 1e-4];
    want.forEach((w, k) => expect(scheduledLearningRate(1e-3, 'cosine', k + 1, 5)).toBeCloseTo(w, 15));
    expect(scheduledLearningRate(1e-3, 'cosine', 9, 5)).toBeCloseTo(1e-4, 15);
    expect(scheduledLearningRate(1e-3, 'cosine', 1, 1)).toBe(1e-3);
    expect(createExperimentSchema.parse({ phase: 'denoiser', rounds: 1 }).learningRateSchedule).toBe('constant');
    expect(createExperimentSchema.safeParse({ phase: 'denoiser', rounds: 1, learningRateSchedule: 'step' }).success).toBe(false);
  });
});

describe('protocol messages', () => {
  it('signs the documented challenge bytes', () => {
    expect(Buffer.from(authMessage('Y2hhbGxlbmdl', 'site-1')).toString('utf8')).toBe('fedct-auth-v1\nY2hhbGxlbmdl\nsite-1');
  });

  it('builds both reply shapes', () => {
    expect(ok({ a: 1 })).toEqual({ ok: true, data: { a: 1 } });
    expect(fail('revoked', 'no')).toEqual({ ok: false, code: 'revoked', message: 'no' });
  });

  it('accepts a task with and without a base model and refuses a bad hash', () => {
    expect(taskSchema.parse(task)).toEqual(task);
    expect(taskSchema.parse({ ...task, baseModel: null }).baseModel).toBeNull();
    expect(taskSchema.safeParse({ ...task, baseModel: { ...task.baseModel, sha256: 'xyz' } }).success).toBe(false);
    expect(NO_BASE_MODEL).toMatch(/^0{64}$/);
  });

  it('carries round-1 network sizes opaquely and names published models with their phase', () => {
    const config = { size: 128, base: 32, nested: { any: [1, 2] } };
    expect(taskSchema.parse({ ...task, baseModel: null, modelConfig: config }).modelConfig).toEqual(config);
    expect(taskSchema.safeParse({ ...task, baseModel: null, modelConfig: [128, 32] }).success).toBe(false);
    expect(createExperimentSchema.parse({ phase: 'classifier', rounds: 1, modelConfig: config }).modelConfig).toEqual(config);
    const published = { version: 'v3', sha256: 'b'.repeat(64), bytes: 10, phase: 'classifier', experiment: 'exp-1' };
    expect(publishedModelSchema.parse(published)).toEqual(published);
    expect(publishedModelSchema.safeParse({ ...published, phase: 'segmenter' }).success).toBe(false);
    expect(publishedModelSchema.safeParse({ ...published, experiment: undefined }).success).toBe(false);
  });

  it('takes binary chunk bytes and refuses base64 strings in their place', () => {
    expect(updateChunkSchema.safeParse({ uploadId: 'u', index: 0, bytes: new Uint8Array(3) }).success).toBe(true);
    expect(updateChunkSchema.safeParse({ uploadId: 'u', index: 0, bytes: 'AAAA' }).success).toBe(false);
    expect(chunkManifestSchema.safeParse({ totalBytes: 1, chunkSize: 1, count: 1, sha256: 'a'.repeat(64), chunkSha256: ['nothex'] }).success).toBe(false);
  });

  it('carries dataset counts only in heartbeats', () => {
    expect(heartbeatSchema.safeParse({ backend: 'wasm', gpu: false, datasets: { control: 3 } }).success).toBe(true);
    expect(heartbeatSchema.safeParse({ backend: 'wasm', gpu: false, datasets: { control: 'patient-1' } }).success).toBe(false);
  });

  it('fills experiment defaults and names the wrong field', () => {
    const settings = createExperimentSchema.parse({ phase: 'classifier', rounds: 3 });
    expect(settings).toMatchObject({ strategy: 'fedavg', minSites: 1, fractionFit: 1, secureAgg: false, normBound: null, maxRoundRetries: 2 });
    const bad = createExperimentSchema.safeParse({ phase: 'segmenter', rounds: 3 });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['phase']);
  });
});
