import { describe, expect, it } from 'vitest';
import type { ModelBlob } from '@fedct/protocol';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RdpAccountant } from '@fedct/crypto';
import { mulberry32 } from '@fedct/pipeline';
import { DatasetIndex } from '../data/dataset-index';
import { privacyWithRound, privatiseUpdate } from './privacy';

const manifest = { model: 'toy', config: {}, tensors: [{ name: 'w', shape: [4000] }] };
const blob = (f: (i: number) => number): ModelBlob => ({ manifest, weights: Float32Array.from({ length: 4000 }, (_, i) => f(i)) });
const norm = (a: ModelBlob, b: ModelBlob) => Math.sqrt(a.weights.reduce((s, v, i) => s + (v - (b.weights[i] ?? 0)) ** 2, 0));

/** mulberry32 moved into (0, 1) by half a step, so that it never returns 0. */
function seeded(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() + 0.5 / 4294967296;
}

describe(privatiseUpdate.name, () => {
  const base = blob((i) => i / 4000);
  const trained = blob((i) => i / 4000 + 0.1); // delta norm = 0.1·√4000 ≈ 6.32

  it('leaves the update alone without DP or bound', () => {
    const { weights, report } = privatiseUpdate(base, trained, { dp: null, normBound: null });
    expect(weights).toBe(trained);
    expect(report.deltaNorm).toBeCloseTo(0.1 * Math.sqrt(4000), 3);
  });

  it('clips the delta to the coordinator\'s bound', () => {
    const { weights } = privatiseUpdate(base, trained, { dp: null, normBound: 2 });
    expect(norm(weights, base)).toBeLessThanOrEqual(2);
    expect(norm(weights, base)).toBeGreaterThan(1.99);
  });

  it('clips to the DP norm and adds noise of the stated stddev', () => {
    const { weights, report } = privatiseUpdate(base, trained, { dp: { clipNorm: 1, noiseMultiplier: 0.5 }, normBound: null, random: seeded(3) });
    expect(report.noiseStddev).toBe(0.5);
    // Clipped delta: every coordinate 1/√4000; noise: N(0, 0.5²). Check mean and stddev of the residual.
    const per = 1 / Math.sqrt(4000);
    let mean = 0;
    let sq = 0;
    for (let i = 0; i < 4000; i++) {
      const noise = (weights.weights[i] ?? 0) - (base.weights[i] ?? 0) - per;
      mean += noise / 4000;
      sq += (noise * noise) / 4000;
    }
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.sqrt(sq - mean * mean)).toBeGreaterThan(0.47);
    expect(Math.sqrt(sq - mean * mean)).toBeLessThan(0.53);
  });
});

describe(privacyWithRound.name, () => {
  it('accounts each round once and matches the accountant over all rounds', () => {
    const index = new DatasetIndex(join(mkdtempSync(join(tmpdir(), 'fedct-dp-')), 'index.sqlite'));
    const first = privacyWithRound(index, 'exp', 1, 1.2, 1e-5);
    first.commit();
    const again = privacyWithRound(index, 'exp', 1, 1.2, 1e-5);
    expect(again.epsilon).toBeCloseTo(first.epsilon, 10);
    const second = privacyWithRound(index, 'exp', 2, 1.2, 1e-5);
    expect(second.epsilon).toBeCloseTo(new RdpAccountant().step(1.2, 1, 2).getEpsilon(1e-5), 10);
    expect(second.epsilon).toBeGreaterThan(first.epsilon);
    expect(privacyWithRound(index, 'other', 1, 1.2, 1e-5).epsilon).toBeCloseTo(first.epsilon, 10);
    index.close();
  });
});
