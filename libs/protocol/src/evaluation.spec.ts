import { describe, expect, it } from 'vitest';
import { aucFromHistograms, countsProblem, EVALUATION_BINS, evaluationCounts, evaluationResultSchema, scoreBin, sumCounts, summarizeEvaluation } from './evaluation';

/** Exact AUC and DeLong variance from raw scores (the textbook formulas, independent of the histogram code). */
function exactDeLong(pos: number[], neg: number[]): { auc: number; variance: number } {
  const psi = (x: number, y: number) => (x > y ? 1 : x === y ? 0.5 : 0);
  const v10 = pos.map((x) => neg.reduce((s, y) => s + psi(x, y), 0) / neg.length);
  const v01 = neg.map((y) => pos.reduce((s, x) => s + psi(x, y), 0) / pos.length);
  const auc = v10.reduce((a, b) => a + b, 0) / pos.length;
  const s10 = v10.reduce((s, v) => s + (v - auc) ** 2, 0) / (pos.length - 1);
  const s01 = v01.reduce((s, v) => s + (v - auc) ** 2, 0) / (neg.length - 1);
  return { auc, variance: s10 / pos.length + s01 / neg.length };
}

function histogram(scores: number[]): number[] {
  const h = new Array<number>(EVALUATION_BINS).fill(0);
  for (const s of scores) h[scoreBin(s)]! += 1;
  return h;
}

describe('federated evaluation counts and figures', () => {
  it('counts a hand-made case: confusion, histograms, accuracy, Covid sensitivity and specificity', () => {
    // labels 0 control, 1 covid-19, 2 cap
    const labels = [0, 0, 1, 1, 1, 2];
    const probabilities = [[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.1, 0.85, 0.05], [0.2, 0.7, 0.1], [0.5, 0.2, 0.3], [0.1, 0.1, 0.8]];
    const c = evaluationCounts(labels, probabilities);
    expect(c.confusion).toEqual([[1, 1, 0], [1, 2, 0], [0, 0, 1]]);
    expect(countsProblem(c)).toBeNull();
    expect(c.histograms[1]![1]![85]).toBe(1);
    const s = summarizeEvaluation(c);
    expect(s.accuracy.value).toBeCloseTo(4 / 6, 12);
    expect(s.covidSensitivity.value).toBeCloseTo(2 / 3, 12);
    // non-Covid studies (3) not predicted Covid: control #1 and cap → 2
    expect(s.covidSpecificity.value).toBeCloseTo(2 / 3, 12);
    expect(s.covidVsRestAccuracy.value).toBeCloseTo(4 / 6, 12);
    expect(s.perClass.control.precision.value).toBeCloseTo(1 / 2, 12);
    expect(s.perClass.cap.recall.value).toBe(1);
    expect(s.perClass['covid-19'].f1.value).toBeCloseTo((2 * 2) / (3 + 3), 12);
    for (const p of [s.accuracy, s.covidSensitivity, s.covidSpecificity]) {
      expect(p.ci[0]).toBeLessThanOrEqual(p.value!);
      expect(p.ci[1]).toBeGreaterThanOrEqual(p.value!);
    }
  });

  it('gives the exact AUC and DeLong variance when no two scores share a bin, and bounds the binning error otherwise', () => {
    const pos = [0.955, 0.905, 0.815, 0.755, 0.615, 0.425, 0.305];
    const neg = [0.885, 0.655, 0.505, 0.385, 0.255, 0.205, 0.105, 0.045];
    const exact = exactDeLong(pos, neg);
    const binned = aucFromHistograms(histogram(pos), histogram(neg));
    expect(binned.binningError).toBe(0);
    expect(binned.value).toBeCloseTo(exact.auc, 12);
    const half = 1.959963984540054 * Math.sqrt(exact.variance);
    expect(binned.ci![0]).toBeCloseTo(Math.max(0, exact.auc - half), 12);
    expect(binned.ci![1]).toBeCloseTo(Math.min(1, exact.auc + half), 12);
    // Scores that collide in bins: the binned AUC is within the stated error of the exact one.
    let seed = 7;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const p2 = Array.from({ length: 300 }, () => Math.min(0.999, rnd() ** 0.5));
    const n2 = Array.from({ length: 400 }, () => rnd() ** 1.5);
    const e2 = exactDeLong(p2, n2);
    const b2 = aucFromHistograms(histogram(p2), histogram(n2));
    expect(b2.binningError).toBeGreaterThan(0);
    expect(b2.binningError).toBeLessThan(0.01);
    expect(Math.abs((b2.value ?? 0) - e2.auc)).toBeLessThanOrEqual(b2.binningError + 1e-12);
  });

  it('pools by summing counts: the pooled figures are those of the summed matrix', () => {
    const a = evaluationCounts([0, 1, 2, 1], [[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6], [0.6, 0.3, 0.1]]);
    const b = evaluationCounts([2, 2, 0], [[0.1, 0.1, 0.8], [0.3, 0.4, 0.3], [0.5, 0.4, 0.1]]);
    const pooled = sumCounts([a, b]);
    expect(pooled.n).toBe(7);
    expect(pooled.confusion).toEqual(a.confusion.map((row, t) => row.map((v, p) => v + b.confusion[t]![p]!)));
    expect(summarizeEvaluation(pooled).accuracy.successes).toBe(summarizeEvaluation(a).accuracy.successes + summarizeEvaluation(b).accuracy.successes);
    expect(countsProblem(pooled)).toBeNull();
  });

  it('finds inconsistent counts, and the result message takes only its own fields', () => {
    const c = evaluationCounts([0, 1], [[0.9, 0.05, 0.05], [0.2, 0.7, 0.1]]);
    expect(countsProblem({ ...c, n: 3 })).toMatch(/holds 2 studies, n says 3/);
    const broken = structuredClone(c);
    broken.histograms[0]![1]![5]! += 1;
    expect(countsProblem(broken)).toMatch(/control score histogram of true covid-19 holds 2/);
    const message = { experiment: 'exp-1', round: 1, classifierSha256: 'a'.repeat(64), split: 'val', nonce: 'n'.repeat(24), counts: c };
    expect(evaluationResultSchema.safeParse(message).success).toBe(true);
    expect(evaluationResultSchema.safeParse({ ...message, studies: ['s1'] }).success).toBe(false);
    expect(evaluationResultSchema.safeParse({ ...message, counts: { ...c, scores: [0.9] } }).success).toBe(false);
    expect(evaluationResultSchema.safeParse({ ...message, counts: { ...c, n: -1 } }).success).toBe(false);
    expect(evaluationResultSchema.safeParse({ ...message, counts: { ...c, n: 1.5 } }).success).toBe(false);
  });
});
