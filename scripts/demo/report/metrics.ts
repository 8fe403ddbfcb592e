import { CLASS_NAMES, type ClassName, type RocPoint, type TestMetrics } from './report.types';

/** Index of Covid-19 in the label order. */
const COVID = 1;

/**
 * ROC curve of a binary score: points from (0,0) to (1,1), one per distinct threshold (ties form a
 * single diagonal step, as in sklearn's `roc_curve`). `positive[i]` is the truth for `score[i]`.
 */
export function rocCurve(score: readonly number[], positive: readonly boolean[]): RocPoint[] {
  const order = score.map((s, i) => [s, i] as const).sort((a, b) => b[0] - a[0]);
  const p = positive.filter(Boolean).length;
  const n = positive.length - p;
  const points: RocPoint[] = [{ fpr: 0, tpr: 0 }];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length; k++) {
    const entry = order[k];
    if (!entry) continue;
    if (positive[entry[1]]) tp++;
    else fp++;
    const next = order[k + 1];
    if (next && next[0] === entry[0]) continue;
    points.push({ fpr: n === 0 ? 0 : fp / n, tpr: p === 0 ? 0 : tp / p });
  }
  return points;
}

/** Area under a ROC curve by the trapezoid rule (equals the Mann–Whitney probability, ties counted ½). */
export function rocAuc(points: readonly RocPoint[]): number {
  let area = 0;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1];
    const b = points[i];
    if (a && b) area += ((b.fpr - a.fpr) * (a.tpr + b.tpr)) / 2;
  }
  return area;
}

function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] ?? -Infinity) > (values[best] ?? -Infinity)) best = i;
  return best;
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

/**
 * Every metric of spec §6 from class probabilities ([control, covid-19, cap] per study) and the true
 * labels (0 control, 1 covid-19, 2 cap). A study is predicted as its most probable class.
 */
export function computeTestMetrics(probabilities: readonly (readonly number[])[], labels: readonly number[]): TestMetrics {
  if (probabilities.length !== labels.length) throw new RangeError(`computeTestMetrics: ${probabilities.length} predictions for ${labels.length} labels`);
  const k = CLASS_NAMES.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const predicted = probabilities.map((p) => argmax(p));
  labels.forEach((truth, i) => {
    const row = confusion[truth];
    const pred = predicted[i] ?? 0;
    if (!row) throw new RangeError(`computeTestMetrics: label ${truth} is not 0, 1 or 2`);
    row[pred] = (row[pred] ?? 0) + 1;
  });
  const n = labels.length;
  const cell = (t: number, p: number): number => confusion[t]?.[p] ?? 0;
  const correct = [0, 1, 2].reduce((s, c) => s + cell(c, c), 0);
  const covidTp = cell(COVID, COVID);
  const covidFn = [0, 2].reduce((s, p) => s + cell(COVID, p), 0);
  const covidFp = [0, 2].reduce((s, t) => s + cell(t, COVID), 0);
  const covidTn = n - covidTp - covidFn - covidFp;
  const perClass = {} as Record<ClassName, { precision: number; recall: number; f1: number }>;
  const aucs: number[] = [];
  const microScores: number[] = [];
  const microTruth: boolean[] = [];
  CLASS_NAMES.forEach((name, c) => {
    const tp = cell(c, c);
    const colSum = [0, 1, 2].reduce((s, t) => s + cell(t, c), 0);
    const rowSum = [0, 1, 2].reduce((s, p) => s + cell(c, p), 0);
    const precision = ratio(tp, colSum);
    const recall = ratio(tp, rowSum);
    perClass[name] = { precision, recall, f1: ratio(2 * precision * recall, precision + recall) };
    const scores = probabilities.map((p) => p[c] ?? 0);
    const truth = labels.map((l) => l === c);
    aucs.push(rocAuc(rocCurve(scores, truth)));
    microScores.push(...scores);
    microTruth.push(...truth);
  });
  const roc = rocCurve(
    probabilities.map((p) => p[COVID] ?? 0),
    labels.map((l) => l === COVID),
  );
  return {
    n,
    accuracy: ratio(correct, n),
    accuracyCovidVsRest: ratio(covidTp + covidTn, n),
    auc: rocAuc(roc),
    aucMacro: aucs.reduce((a, b) => a + b, 0) / aucs.length,
    aucMicro: rocAuc(rocCurve(microScores, microTruth)),
    sensitivity: ratio(covidTp, covidTp + covidFn),
    specificity: ratio(covidTn, covidTn + covidFp),
    confusion,
    perClass,
    roc,
  };
}
