import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@fedct/protocol';
import { PolicyViolationError } from '../util/errors';
import { checkTask, DEFAULT_POLICY, effectiveDp, loadSitePolicy, sitePolicySchema, type TaskTerms } from './site-policy';
import { sitePaths } from './site-paths';

const task: TaskTerms = { phase: 'denoiser', localEpochs: 2, modelBytes: 1000, secureAggregation: false, dp: null };

function violation(fn: () => void): PolicyViolationError {
  try {
    fn();
  } catch (error) {
    if (error instanceof PolicyViolationError) return error;
    throw error;
  }
  throw new Error('expected a policy violation');
}

describe(checkTask.name, () => {
  it('accepts a task within every rule', () => {
    expect(() => checkTask(DEFAULT_POLICY, task, 10)).not.toThrow();
  });

  it('refuses a phase the site does not take part in', () => {
    const policy = sitePolicySchema.parse({ acceptPhases: ['classifier'] });
    const error = violation(() => checkTask(policy, task, 10));
    expect(error.rule).toBe('acceptPhases');
    expect(error.message).toMatch(/does not take part in denoiser/);
  });

  it('refuses too many epochs, too few samples, a too large model and missing secure aggregation', () => {
    const policy = sitePolicySchema.parse({ maxLocalEpochs: 1, minLocalSamples: 5, maxModelMb: 0.0005, requireSecureAggregation: true });
    expect(violation(() => checkTask(policy, task, 10)).rule).toBe('maxLocalEpochs');
    expect(violation(() => checkTask(policy, { ...task, localEpochs: 1 }, 4)).rule).toBe('minLocalSamples');
    expect(violation(() => checkTask(policy, { ...task, localEpochs: 1 }, 5)).rule).toBe('maxModelMb');
    expect(violation(() => checkTask(policy, { ...task, localEpochs: 1, modelBytes: 10 }, 5)).rule).toBe('requireSecureAggregation');
    expect(() => checkTask(policy, { ...task, localEpochs: 1, modelBytes: 10, secureAggregation: true }, 5)).not.toThrow();
  });
});

describe(effectiveDp.name, () => {
  it('takes the stricter of task and policy', () => {
    const policy = sitePolicySchema.parse({ requireDp: { maxClipNorm: 1, minNoiseMultiplier: 0.8 } });
    expect(effectiveDp(policy, task)).toEqual({ clipNorm: 1, noiseMultiplier: 0.8 });
    expect(effectiveDp(policy, { ...task, dp: { clipNorm: 5, noiseMultiplier: 0.5 } })).toEqual({ clipNorm: 1, noiseMultiplier: 0.8 });
    expect(effectiveDp(policy, { ...task, dp: { clipNorm: 0.5, noiseMultiplier: 2 } })).toEqual({ clipNorm: 0.5, noiseMultiplier: 2 });
    expect(effectiveDp(DEFAULT_POLICY, task)).toBeNull();
  });
});

describe(loadSitePolicy.name, () => {
  it('names a bad field in one line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedct-policy-'));
    writeFileSync(join(dir, 'policy.yaml'), 'maxLocalEpochs: many\n');
    expect(() => loadSitePolicy(sitePaths(dir))).toThrow(ConfigError);
    expect(() => loadSitePolicy(sitePaths(dir))).toThrow(/maxLocalEpochs/);
  });
});
