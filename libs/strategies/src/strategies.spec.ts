import { describe, expect, it } from 'vitest';
import { createStrategy, FedAvgStrategy, FedOptStrategy, median, RobustStrategy, trimmedMean, WeightedSum, type AggregateInput } from './index';

function input(updates: Float32Array[], weights: number[], base: Float32Array | null, streaming: boolean): AggregateInput {
  const sum = new WeightedSum(updates[0]!.length);
  if (streaming) updates.forEach((u, i) => sum.fold(u, weights[i]!));
  return {
    base,
    accepted: updates.map((_, i) => ({ siteId: `s${i}`, sampleCount: weights[i]! })),
    failures: [],
    sum: streaming ? sum : null,
    readBlock: streaming ? null : (offset, length) => updates.map((u) => u.slice(offset, offset + length)),
    length: updates[0]!.length,
  };
}

describe(WeightedSum.name, () => {
  it('computes the sample-weighted mean', () => {
    const sum = new WeightedSum(2);
    sum.fold(Float32Array.from([1, 10]), 1);
    sum.fold(Float32Array.from([3, 20]), 3);
    expect(Array.from(sum.mean())).toEqual([2.5, 17.5]);
  });

  it('refuses a wrong length or a non-positive weight', () => {
    const sum = new WeightedSum(2);
    expect(() => sum.fold(new Float32Array(3), 1)).toThrow(/3 values/);
    expect(() => sum.fold(new Float32Array(2), 0)).toThrow(/positive/);
  });
});

describe(FedAvgStrategy.name, () => {
  it('keeps the previous model when nothing was accepted', () => {
    const result = new FedAvgStrategy().aggregate({ ...input([new Float32Array(1)], [1], null, false), sum: new WeightedSum(1) });
    expect(result.kind).toBe('keep');
  });

  it('sends μ only for FedProx', () => {
    expect(createStrategy({ strategy: 'fedavg', strategyOptions: {} }).configureRound(1)).toEqual({});
    expect(createStrategy({ strategy: 'fedprox', strategyOptions: { proximalMu: 0.5 } }).configureRound(1)).toEqual({ proximalMu: 0.5 });
  });
});

describe(FedOptStrategy.name, () => {
  it('takes the FedAdam step by hand for one coordinate over two rounds', () => {
    const s = new FedOptStrategy('fedadam', { serverLearningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 });
    const state = new Map<string, Float32Array>();
    const base = Float32Array.from([1]);
    const r1 = s.aggregate(input([Float32Array.from([1.5])], [1], base, true), state);
    // Δ = 0.5; m = 0.05; v = 0.0025; w = 1 + 0.1·0.05 / (0.05 + 0.001)
    expect(r1.kind).toBe('model');
    const w1 = r1.kind === 'model' ? r1.weights[0]! : NaN;
    expect(w1).toBeCloseTo(1 + (0.1 * 0.05) / (0.05 + 0.001), 6);
    const r2 = s.aggregate(input([Float32Array.from([w1 - 0.2])], [1], Float32Array.from([w1]), true), state);
    // Δ = −0.2; m = 0.045 − 0.02 = 0.025; v = 0.002475 + 0.0004 = 0.002875
    const m = 0.9 * 0.05 + 0.1 * -0.2;
    const v = 0.99 * 0.0025 + 0.01 * 0.04;
    expect(r2.kind === 'model' ? r2.weights[0] : NaN).toBeCloseTo(w1 + (0.1 * m) / (Math.sqrt(v) + 0.001), 6);
  });

  it('FedYogi moves v towards Δ² additively', () => {
    const s = new FedOptStrategy('fedyogi', { serverLearningRate: 1, beta1: 0, beta2: 0.5, tau: 0 });
    const state = new Map<string, Float32Array>();
    s.aggregate(input([Float32Array.from([2])], [1], Float32Array.from([0]), true), state);
    // v = 0 − 0.5·4·sign(0 − 4) = 2
    expect(state.get('v')![0]).toBeCloseTo(2, 6);
  });

  it('returns the plain mean in round 1 without a base model', () => {
    const s = new FedOptStrategy('fedadam', { serverLearningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-9 });
    const r = s.aggregate(input([Float32Array.from([2]), Float32Array.from([4])], [1, 1], null, true), new Map());
    expect(r.kind === 'model' ? Array.from(r.weights) : []).toEqual([3]);
  });
});

describe(RobustStrategy.name, () => {
  it('computes median and trimmed mean by hand', () => {
    expect(median(Float64Array.from([5, 1, 3]))).toBe(3);
    expect(median(Float64Array.from([4, 1, 3, 2]))).toBe(2.5);
    expect(trimmedMean(Float64Array.from([100, 1, 2, 3, -50]), 0.2)).toBe(2);
  });

  it('ignores one arbitrary update per coordinate across blocks', () => {
    const n = 40_000; // more than one block
    const honest = [0.9, 1, 1.1].map((v) => new Float32Array(n).fill(v));
    const evil = new Float32Array(n).fill(1e6);
    const updates = [...honest, evil];
    const med = new RobustStrategy('median').aggregate(input(updates, [1, 1, 1, 1], null, false));
    expect(med.kind === 'model' ? [med.weights[0], med.weights[n - 1]] : []).toEqual([Math.fround(1.05), Math.fround(1.05)]);
    const trimmed = new RobustStrategy('trimmed-mean', 0.25).aggregate(input(updates, [1, 1, 1, 1], null, false));
    expect(trimmed.kind === 'model' ? trimmed.weights[n - 1] : 0).toBeCloseTo(1.05, 5);
  });

  it('keeps the model when nothing was accepted', () => {
    const r = new RobustStrategy('median').aggregate({ ...input([new Float32Array(1)], [1], null, false), accepted: [] });
    expect(r.kind).toBe('keep');
  });
});

describe('participant selection and metric weighting (configure_fit, fit_metrics_aggregation)', () => {
  const sites = ['s1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10'];
  // A seeded generator for the test (the coordinator passes crypto's randomInt).
  const seeded = (seed: number) => {
    let a = seed >>> 0;
    return (max: number) => {
      // mulberry32
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * max);
    };
  };

  it('invites max(minSites, ⌈fraction · n⌉) distinct available sites, sorted, all when there are fewer', () => {
    const strategy = createStrategy({ strategy: 'fedavg', strategyOptions: {} });
    const picked = strategy.selectParticipants(sites, { minSites: 2, fractionFit: 0.35, randomInt: seeded(1) });
    expect(picked).toHaveLength(4);
    expect(new Set(picked).size).toBe(4);
    expect(picked.every((s) => sites.includes(s))).toBe(true);
    expect(picked).toEqual([...picked].sort());
    expect(strategy.selectParticipants(sites, { minSites: 7, fractionFit: 0.1, randomInt: seeded(2) })).toHaveLength(7);
    expect(strategy.selectParticipants(['a', 'b'], { minSites: 3, fractionFit: 1, randomInt: seeded(3) })).toEqual(['a', 'b']);
  });

  it('samples every site about equally often (uniform without replacement)', () => {
    const strategy = createStrategy({ strategy: 'median', strategyOptions: {} });
    const counts = new Map<string, number>();
    const rng = seeded(4);
    for (let k = 0; k < 3000; k++) for (const s of strategy.selectParticipants(sites, { minSites: 1, fractionFit: 0.3, randomInt: rng })) counts.set(s, (counts.get(s) ?? 0) + 1);
    // Expected 900 each; a binomial(3000, 0.3) has sd ≈ 25.
    for (const s of sites) expect(Math.abs((counts.get(s) ?? 0) - 900)).toBeLessThan(125);
  });

  it('weights metrics by sample count, skipping non-finite values and sites without samples', () => {
    const strategy = createStrategy({ strategy: 'fedadam', strategyOptions: {} });
    const metrics = strategy.aggregateMetrics([
      { sampleCount: 30, metrics: { loss: 1, acc: 0.5 } },
      { sampleCount: 10, metrics: { loss: 3, acc: Number.NaN } },
      { sampleCount: null, metrics: { loss: 100 } },
    ]);
    expect(metrics.loss).toBeCloseTo((30 * 1 + 10 * 3) / 40, 12);
    expect(metrics.acc).toBeCloseTo(0.5, 12);
    expect(metrics.sites).toBe(3);
    expect(metrics.samples).toBe(40);
  });
});
