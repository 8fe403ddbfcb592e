/**
 * Federated evaluation: what a site sends after measuring a classifier on one split of its own
 * studies (aggregate counts only: no study, score, name or id), and the figures with 95 % intervals
 * the coordinator (or anyone) computes from those counts, per site or pooled over sites.
 *
 * Counts: `confusion[t][p]` = studies of true class t predicted p (classes in output order,
 * classes.ts); `histograms[c][t][b]` = studies of true class t whose probability of class c falls in
 * bin b of {@link EVALUATION_BINS} equal bins on [0, 1] (bin = min(bins − 1, ⌊p · bins⌋)). From these
 * come every figure below, and their sums over sites are the pooled counts.
 */
import { z } from 'zod';
import { CLASS_NAMES, CLASS_INDEX, type ClassName } from './classes';
import { wilsonInterval, Z95 } from './stats';

/** Score histogram bins on [0, 1]. */
export const EVALUATION_BINS = 100;

/** Which of a site's splits an evaluation reads. */
export const evaluationSplitSchema = z.enum(['val', 'test']);
export type EvaluationSplit = z.infer<typeof evaluationSplitSchema>;

const count = z.number().int().nonnegative();
const K = CLASS_NAMES.length;

/** The aggregate counts of one site's evaluation (validated for consistency by {@link countsProblem}). */
export const evaluationCountsSchema = z
  .object({
    n: count,
    confusion: z.array(z.array(count).length(K)).length(K),
    histograms: z.array(z.array(z.array(count).length(EVALUATION_BINS)).length(K)).length(K),
  })
  .strict();
export type EvaluationCounts = z.infer<typeof evaluationCountsSchema>;

/**
 * `evaluation.result`, site → coordinator: the counts, what they measure (the evaluated classifier's
 * sha256 and the split, which must be what the task named) and a fresh nonce (replays are refused).
 * Strict: a message with any other field is refused, so nothing else can leave a site this way.
 */
export const evaluationResultSchema = z
  .object({
    experiment: z.string().min(1).max(100),
    round: z.number().int().positive(),
    classifierSha256: z.string().regex(/^[0-9a-f]{64}$/),
    split: evaluationSplitSchema,
    nonce: z.string().min(16).max(64),
    counts: evaluationCountsSchema,
  })
  .strict();
export type EvaluationResultMessage = z.infer<typeof evaluationResultSchema>;

/** Why counts are inconsistent (totals, class counts of the histograms), or null. */
export function countsProblem(c: EvaluationCounts): string | null {
  const rowTotals = c.confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const total = rowTotals.reduce((a, b) => a + b, 0);
  if (total !== c.n) return `the confusion matrix holds ${total} studies, n says ${c.n}`;
  for (let col = 0; col < K; col++) {
    for (let t = 0; t < K; t++) {
      const inBins = (c.histograms[col]?.[t] ?? []).reduce((a, b) => a + b, 0);
      if (inBins !== rowTotals[t]) return `the ${CLASS_NAMES[col]} score histogram of true ${CLASS_NAMES[t]} holds ${inBins} studies, the confusion matrix ${rowTotals[t]}`;
    }
  }
  return null;
}

/** The bin of a probability. */
export function scoreBin(p: number, bins = EVALUATION_BINS): number {
  if (!Number.isFinite(p)) return 0;
  return Math.min(bins - 1, Math.max(0, Math.floor(p * bins)));
}

/** Counts from labels (class indices) and per-study probabilities (output order); what a site computes. */
export function evaluationCounts(labels: readonly number[], probabilities: readonly (readonly number[])[]): EvaluationCounts {
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  const histograms = Array.from({ length: K }, () => Array.from({ length: K }, () => new Array<number>(EVALUATION_BINS).fill(0)));
  labels.forEach((t, i) => {
    const p = probabilities[i] ?? [];
    let best = 0;
    for (let c = 1; c < K; c++) if ((p[c] ?? -Infinity) > (p[best] ?? -Infinity)) best = c;
    confusion[t]![best]! += 1;
    for (let c = 0; c < K; c++) histograms[c]![t]![scoreBin(p[c] ?? 0)]! += 1;
  });
  return { n: labels.length, confusion, histograms };
}

/** Element-wise sum of several sites' counts (the pooled evaluation). */
export function sumCounts(all: readonly EvaluationCounts[]): EvaluationCounts {
  const out = evaluationCounts([], []);
  for (const c of all) {
    out.n += c.n;
    for (let t = 0; t < K; t++) for (let p = 0; p < K; p++) out.confusion[t]![p]! += c.confusion[t]![p]!;
    for (let col = 0; col < K; col++) for (let t = 0; t < K; t++) for (let b = 0; b < EVALUATION_BINS; b++) out.histograms[col]![t]![b]! += c.histograms[col]![t]![b]!;
  }
  return out;
}

/** A proportion with its Wilson 95 % interval; null value when its denominator is 0. */
export interface Proportion {
  value: number | null;
  ci: [number, number];
  successes: number;
  n: number;
}

function proportion(successes: number, n: number): Proportion {
  return { value: n === 0 ? null : successes / n, ci: wilsonInterval(successes, n), successes, n };
}

/** An AUC with its interval (see {@link aucFromHistograms}). */
export interface AucEstimate {
  value: number | null;
  ci: [number, number] | null;
  /** The largest amount binning can move the AUC from the one of the exact scores (half the tied-pair share). */
  binningError: number;
  positives: number;
  negatives: number;
}

/**
 * ROC AUC of score histograms of positives and negatives (the Mann-Whitney probability, studies in the
 * same bin counted ½), with DeLong's variance (DeLong, DeLong & Clarke-Pearson 1988) computed on the
 * binned scores, and a normal 95 % interval clipped to [0, 1]. Binning can only turn an ordered pair
 * into a tie, so the exact AUC of the unbinned scores lies within `binningError` (half the share of
 * positive-negative pairs that share a bin) of this value.
 */
export function aucFromHistograms(positive: readonly number[], negative: readonly number[]): AucEstimate {
  const np = positive.reduce((a, b) => a + b, 0);
  const nn = negative.reduce((a, b) => a + b, 0);
  if (np === 0 || nn === 0) return { value: null, ci: null, binningError: 0, positives: np, negatives: nn };
  const bins = positive.length;
  const negBelow = new Array<number>(bins).fill(0);
  const posAbove = new Array<number>(bins).fill(0);
  for (let b = 1; b < bins; b++) negBelow[b] = negBelow[b - 1]! + (negative[b - 1] ?? 0);
  for (let b = bins - 2; b >= 0; b--) posAbove[b] = posAbove[b + 1]! + (positive[b + 1] ?? 0);
  // Placement values: for a positive in bin b, the share of negatives below it (ties ½); for a negative, of positives above.
  let auc = 0;
  let ties = 0;
  const v10: { v: number; w: number }[] = [];
  const v01: { v: number; w: number }[] = [];
  for (let b = 0; b < bins; b++) {
    const p = positive[b] ?? 0;
    const q = negative[b] ?? 0;
    if (p > 0) {
      const v = (negBelow[b]! + 0.5 * q) / nn;
      v10.push({ v, w: p });
      auc += p * v;
    }
    if (q > 0) v01.push({ v: (posAbove[b]! + 0.5 * p) / np, w: q });
    ties += p * q;
  }
  auc /= np;
  const variance = (items: { v: number; w: number }[], n: number): number => {
    if (n < 2) return 0;
    let sum = 0;
    for (const { v, w } of items) sum += w * (v - auc) ** 2;
    return sum / (n - 1);
  };
  const se = Math.sqrt(variance(v10, np) / np + variance(v01, nn) / nn);
  return { value: auc, ci: [Math.max(0, auc - Z95 * se), Math.min(1, auc + Z95 * se)], binningError: (0.5 * ties) / (np * nn), positives: np, negatives: nn };
}

/** A per-class precision, recall and F1 (F1's interval: a seeded multinomial bootstrap of the counts). */
export interface ClassFigures {
  precision: Proportion;
  recall: Proportion;
  f1: { value: number | null; ci: [number, number] | null };
}

/** Every figure of an evaluation, with its interval and n. */
export interface EvaluationSummary {
  n: number;
  /** 3-class accuracy. */
  accuracy: Proportion;
  /** Covid-19 against the other two classes. */
  covidVsRestAccuracy: Proportion;
  covidSensitivity: Proportion;
  covidSpecificity: Proportion;
  aucCovid: AucEstimate;
  perClass: Record<ClassName, ClassFigures>;
  confusion: number[][];
}

/** The seeded generator of the F1 bootstrap (mulberry32), so that a summary is a function of its counts. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function f1Of(confusion: readonly (readonly number[])[], c: number): number | null {
  const tp = confusion[c]![c]!;
  const predicted = confusion.reduce((s, row) => s + row[c]!, 0);
  const actual = confusion[c]!.reduce((a, b) => a + b, 0);
  return predicted + actual === 0 ? null : (2 * tp) / (predicted + actual);
}

/** Percentile bootstrap interval of each class's F1: 2000 multinomial resamples of the n studies. */
function f1Intervals(confusion: readonly (readonly number[])[], n: number): ([number, number] | null)[] {
  if (n === 0) return CLASS_NAMES.map(() => null);
  const cells = confusion.flat();
  const cumulative: number[] = [];
  cells.reduce((acc, v, i) => (cumulative[i] = acc + v / n), 0);
  const rng = mulberry32(0x5eed);
  const draws: number[][] = CLASS_NAMES.map(() => []);
  for (let r = 0; r < 2000; r++) {
    const counts = new Array<number>(cells.length).fill(0);
    for (let i = 0; i < n; i++) {
      const u = rng();
      let k = 0;
      while (k < cells.length - 1 && u >= cumulative[k]!) k++;
      counts[k]! += 1;
    }
    const m = CLASS_NAMES.map((_, t) => counts.slice(t * K, (t + 1) * K));
    CLASS_NAMES.forEach((_, c) => {
      const f = f1Of(m, c);
      if (f !== null) draws[c]!.push(f);
    });
  }
  return draws.map((d) => {
    if (d.length === 0) return null;
    d.sort((a, b) => a - b);
    return [d[Math.floor(0.025 * (d.length - 1))]!, d[Math.ceil(0.975 * (d.length - 1))]!];
  });
}

/** Every figure of {@link EvaluationSummary} from counts (one site's, or {@link sumCounts} of several). */
export function summarizeEvaluation(c: EvaluationCounts): EvaluationSummary {
  const m = c.confusion;
  const covid = CLASS_INDEX['covid-19'];
  const correct = m.reduce((s, row, i) => s + row[i]!, 0);
  const covidRow = m[covid]!.reduce((a, b) => a + b, 0);
  const tp = m[covid]![covid]!;
  const predictedCovid = m.reduce((s, row) => s + row[covid]!, 0);
  const tn = c.n - covidRow - (predictedCovid - tp);
  const f1 = f1Intervals(m, c.n);
  const perClass = {} as Record<ClassName, ClassFigures>;
  CLASS_NAMES.forEach((name, k) => {
    const actual = m[k]!.reduce((a, b) => a + b, 0);
    const predicted = m.reduce((s, row) => s + row[k]!, 0);
    perClass[name] = { precision: proportion(m[k]![k]!, predicted), recall: proportion(m[k]![k]!, actual), f1: { value: f1Of(m, k), ci: f1[k] ?? null } };
  });
  const positives = c.histograms[covid]![covid]!;
  const negatives = c.histograms[covid]!.filter((_, t) => t !== covid).reduce((acc, h) => acc.map((v, b) => v + h[b]!), new Array<number>(EVALUATION_BINS).fill(0));
  return {
    n: c.n,
    accuracy: proportion(correct, c.n),
    covidVsRestAccuracy: proportion(tp + tn, c.n),
    covidSensitivity: proportion(tp, covidRow),
    covidSpecificity: proportion(tn, c.n - covidRow),
    aucCovid: aucFromHistograms(positives, negatives),
    perClass,
    confusion: m.map((row) => [...row]),
  };
}
