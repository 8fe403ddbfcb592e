import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../random';
import { classificationMetrics, flattenMetrics, rocAuc } from './metrics';

/** Brute force: over all (positive, negative) pairs, count 1 when the positive scores higher, 1/2 on ties. */
function pairwiseAuc(scores: number[], positive: boolean[]): number {
  let wins = 0;
  let pairs = 0;
  scores.forEach((sp, i) => {
    if (!positive[i]) return;
    scores.forEach((sn, j) => {
      if (positive[j]) return;
      pairs++;
      wins += sp > sn ? 1 : sp === sn ? 0.5 : 0;
    });
  });
  return wins / pairs;
}

describe(rocAuc.name, () => {
  it('equals the brute-force pairwise count on random data with ties', () => {
    const rng = mulberry32(42);
    for (let trial = 0; trial < 20; trial++) {
      const n = 5 + Math.floor(rng() * 40);
      const scores = Array.from({ length: n }, () => Math.round(rng() * 10) / 10);
      const positive = Array.from({ length: n }, () => rng() < 0.4);
      positive[0] = true;
      positive[1] = false;
      expect(rocAuc(scores, positive)).toBeCloseTo(pairwiseAuc(scores, positive), 12);
    }
  });

  it('is 1 for a perfect ranking, 0 for a reversed one and NaN with one class only', () => {
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [false, false, true, true])).toBe(1);
    expect(rocAuc([0.9, 0.8, 0.2, 0.1], [false, false, true, true])).toBe(0);
    expect(rocAuc([0.1, 0.2], [true, true])).toBeNaN();
  });
});

describe(classificationMetrics.name, () => {
  // Hand-worked case. Labels: 0 control, 1 covid, 2 cap.
  // true:      0    0    0    1    1    1    1    2    2    2
  // predicted: 0    0    1    1    1    1    2    2    2    0
  const labels = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2];
  const predicted = [0, 0, 1, 1, 1, 1, 2, 2, 2, 0];
  const covidScore = [0.1, 0.2, 0.6, 0.9, 0.8, 0.7, 0.3, 0.1, 0.2, 0.25];
  const probabilities = predicted.map((p, i) => {
    const c = covidScore[i] ?? 0;
    const rest = 1 - c;
    if (p === 1) return [rest / 2, c, rest / 2];
    return p === 0 ? [rest * 0.9, c, rest * 0.1] : [rest * 0.1, c, rest * 0.9];
  });
  const m = classificationMetrics(labels, probabilities);

  it('counts the confusion matrix by [true][predicted]', () => {
    expect(m.confusion).toEqual([[2, 1, 0], [0, 3, 1], [1, 0, 2]]);
  });

  it('computes accuracy, Covid-vs-rest accuracy, sensitivity and specificity as by hand', () => {
    expect(m.accuracy).toBeCloseTo(7 / 10, 12);
    // Covid: TP 3, FN 1, FP 1, TN 5.
    expect(m.covidSensitivity).toBeCloseTo(3 / 4, 12);
    expect(m.covidSpecificity).toBeCloseTo(5 / 6, 12);
    expect(m.covidVsRestAccuracy).toBeCloseTo(8 / 10, 12);
  });

  it('computes per-class precision, recall and F1 as by hand', () => {
    expect(m.perClass.control).toEqual({ precision: 2 / 3, recall: 2 / 3, f1: expect.closeTo(2 / 3, 12) as number, support: 3 });
    expect(m.perClass['covid-19'].precision).toBeCloseTo(3 / 4, 12);
    expect(m.perClass['covid-19'].recall).toBeCloseTo(3 / 4, 12);
    expect(m.perClass.cap.precision).toBeCloseTo(2 / 3, 12);
    expect(m.perClass.cap.recall).toBeCloseTo(2 / 3, 12);
    expect(m.perClass.cap.f1).toBeCloseTo(2 / 3, 12);
  });

  it('computes the Covid AUC and the macro/micro AUCs from the probabilities', () => {
    // Covid scores of positives 0.9 0.8 0.7 0.3 vs negatives 0.1 0.2 0.6 0.1 0.2 0.25: the 0.3 one beats 5 of 6.
    expect(m.aucCovid).toBeCloseTo((6 + 6 + 6 + 5) / 24, 12);
    const isCovid = labels.map((l) => l === 1);
    expect(m.aucCovid).toBeCloseTo(pairwiseAuc(probabilities.map((p) => p[1] ?? 0), isCovid), 12);
    const perClass = [0, 1, 2].map((c) => pairwiseAuc(probabilities.map((p) => p[c] ?? 0), labels.map((l) => l === c)));
    expect(m.aucMacro).toBeCloseTo((perClass[0]! + perClass[1]! + perClass[2]!) / 3, 12);
    const flatScores = probabilities.flat();
    const flatTruth = labels.flatMap((l) => [0, 1, 2].map((c) => c === l));
    expect(m.aucMicro).toBeCloseTo(pairwiseAuc(flatScores, flatTruth), 12);
  });

  it('flattens to named numbers for round results and rejects bad input', () => {
    const flat = flattenMetrics(m, 'val_');
    expect(flat.val_accuracy).toBeCloseTo(0.7, 12);
    expect(flat['val_confusion_covid-19_as_cap']).toBe(1);
    expect(() => classificationMetrics([3], [[0.2, 0.3, 0.5]])).toThrow(RangeError);
    expect(() => classificationMetrics([0], [])).toThrow(RangeError);
  });
});
