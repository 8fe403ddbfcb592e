import { CLASS_INDEX, CLASS_NAMES, type ClassName } from '@fedct/protocol';

/** Class names by label index, the protocol's one list (re-exported for the package's callers). */
export { CLASS_NAMES, type ClassName } from '@fedct/protocol';
/** Label index of Covid-19. */
export const COVID_LABEL = CLASS_INDEX['covid-19'];

/** Precision, recall and F1 of one class (0 where undefined, as scikit-learn's zero_division=0). */
export interface ClassScores {
  precision: number;
  recall: number;
  f1: number;
  /** Studies of this class. */
  support: number;
}

/** Every metric of `covidctnet-spec.md` §6. AUCs are NaN when a class has no positives or no negatives. */
export interface ClassificationMetrics {
  count: number;
  /** 3-class accuracy. */
  accuracy: number;
  /** Covid-19 vs the rest, from the 3-class prediction. */
  covidVsRestAccuracy: number;
  covidSensitivity: number;
  covidSpecificity: number;
  /** ROC AUC of the Covid-19 probability, Covid-19 vs rest. */
  aucCovid: number;
  /** Mean of the per-class one-vs-rest AUCs. */
  aucMacro: number;
  /** AUC over all (study, class) pairs with one-hot truth. */
  aucMicro: number;
  perClass: Record<ClassName, ClassScores>;
  /** confusion[true][predicted]. */
  confusion: number[][];
}

/**
 * ROC AUC = P(score of a random positive > score of a random negative), ties counting 1/2
 * (Mann-Whitney U from average ranks). NaN when there are no positives or no negatives.
 */
export function rocAuc(scores: readonly number[], positive: readonly boolean[]): number {
  if (scores.length !== positive.length) throw new RangeError(`${scores.length} scores for ${positive.length} labels`);
  const order = scores.map((s, i) => [s, i] as const).sort((a, b) => a[0] - b[0]);
  let rankSumPositive = 0;
  let nPos = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]?.[0] === order[i]?.[0]) j++;
    const averageRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (positive[order[k]?.[1] ?? 0]) {
        rankSumPositive += averageRank;
        nPos++;
      }
    }
    i = j + 1;
  }
  const nNeg = scores.length - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  return (rankSumPositive - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] ?? -Infinity) > (values[best] ?? -Infinity)) best = i;
  return best;
}

function ratio(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}

/**
 * All §6 metrics from true labels and predicted class probabilities (rows of 3).
 * @throws RangeError when lengths differ, a label is out of range or there are no studies.
 */
export function classificationMetrics(labels: readonly number[], probabilities: readonly (readonly number[])[]): ClassificationMetrics {
  const n = labels.length;
  const k = CLASS_NAMES.length;
  if (n === 0) throw new RangeError('no studies to evaluate');
  if (probabilities.length !== n) throw new RangeError(`${probabilities.length} predictions for ${n} labels`);
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const predicted = probabilities.map((p) => {
    if (p.length !== k) throw new RangeError(`a prediction has ${p.length} probabilities, expected ${k}`);
    return argmax(p);
  });
  labels.forEach((label, i) => {
    if (!Number.isInteger(label) || label < 0 || label >= k) throw new RangeError(`label ${label} is not 0, 1 or 2`);
    const row = confusion[label] as number[];
    const p = predicted[i] ?? 0;
    row[p] = (row[p] ?? 0) + 1;
  });
  const cell = (t: number, p: number) => confusion[t]?.[p] ?? 0;
  const correct = confusion.reduce((s, row, c) => s + (row[c] ?? 0), 0);
  const perClass = {} as Record<ClassName, ClassScores>;
  CLASS_NAMES.forEach((name, c) => {
    const tp = cell(c, c);
    const support = confusion[c]?.reduce((a, b) => a + b, 0) ?? 0;
    const predictedCount = confusion.reduce((s, row) => s + (row[c] ?? 0), 0);
    const precision = ratio(tp, predictedCount);
    const recall = ratio(tp, support);
    perClass[name] = { precision, recall, f1: ratio(2 * precision * recall, precision + recall), support };
  });
  const isCovid = labels.map((l) => l === COVID_LABEL);
  const saysCovid = predicted.map((p) => p === COVID_LABEL);
  let tp = 0;
  let tn = 0;
  let fp = 0;
  let fn = 0;
  isCovid.forEach((truth, i) => {
    if (truth && saysCovid[i]) tp++;
    else if (truth) fn++;
    else if (saysCovid[i]) fp++;
    else tn++;
  });
  const perClassAuc = CLASS_NAMES.map((_, c) => rocAuc(probabilities.map((p) => p[c] ?? 0), labels.map((l) => l === c)));
  const defined = perClassAuc.filter((a) => !Number.isNaN(a));
  const microScores: number[] = [];
  const microTruth: boolean[] = [];
  probabilities.forEach((p, i) => p.forEach((s, c) => {
    microScores.push(s);
    microTruth.push(labels[i] === c);
  }));
  return {
    count: n,
    accuracy: correct / n,
    covidVsRestAccuracy: (tp + tn) / n,
    covidSensitivity: ratio(tp, tp + fn),
    covidSpecificity: ratio(tn, tn + fp),
    aucCovid: perClassAuc[COVID_LABEL] ?? NaN,
    aucMacro: defined.length === 0 ? NaN : defined.reduce((a, b) => a + b, 0) / defined.length,
    aucMicro: rocAuc(microScores, microTruth),
    perClass,
    confusion,
  };
}

/** The metrics as one flat `name → number` record (for round results); NaN values are left out. */
export function flattenMetrics(m: ClassificationMetrics, prefix = ''): Record<string, number> {
  const out: Record<string, number> = {
    [`${prefix}count`]: m.count,
    [`${prefix}accuracy`]: m.accuracy,
    [`${prefix}covid_vs_rest_accuracy`]: m.covidVsRestAccuracy,
    [`${prefix}covid_sensitivity`]: m.covidSensitivity,
    [`${prefix}covid_specificity`]: m.covidSpecificity,
    [`${prefix}auc_covid`]: m.aucCovid,
    [`${prefix}auc_macro`]: m.aucMacro,
    [`${prefix}auc_micro`]: m.aucMicro,
  };
  for (const name of CLASS_NAMES) {
    const s = m.perClass[name];
    out[`${prefix}${name}_precision`] = s.precision;
    out[`${prefix}${name}_recall`] = s.recall;
    out[`${prefix}${name}_f1`] = s.f1;
  }
  m.confusion.forEach((row, t) => row.forEach((v, p) => {
    out[`${prefix}confusion_${CLASS_NAMES[t]}_as_${CLASS_NAMES[p]}`] = v;
  }));
  for (const [key, value] of Object.entries(out)) if (Number.isNaN(value)) delete out[key];
  return out;
}
