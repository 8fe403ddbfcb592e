import { summarizeEvaluation } from '@fedct/protocol';
import type { LocalEvaluation } from '../data/dataset-index';

/**
 * The newest federated evaluation of a classifier at this site, as predict and the viewer show it
 * next to a prediction (the counts this site measured and sent; see evaluation/local-evaluation.ts).
 */
export interface SiteEvaluationFigures {
  /** The coordinator's evaluation id. */
  evaluation: string;
  split: 'val' | 'test';
  at: string;
  /** Studies measured. */
  n: number;
  /** 3-class accuracy and its Wilson 95 % interval (null with n = 0). */
  accuracy: number | null;
  accuracyCi: [number, number];
  /** Covid-vs-rest ROC AUC with its DeLong 95 % interval, from the binned scores. */
  aucCovid: number | null;
  aucCovidCi: [number, number] | null;
  /** False when the evaluation ran with another denoiser than the one this prediction used. */
  sameDenoiser: boolean;
}

/** The site's newest evaluation of a classifier (by SHA-256), or null when it was never evaluated here. */
export type EvaluationLookup = (classifierSha256: string) => LocalEvaluation | null;

/** {@link SiteEvaluationFigures} of a stored evaluation, or null. */
export function siteEvaluationFigures(stored: LocalEvaluation | null, denoiserSha256: string): SiteEvaluationFigures | null {
  if (!stored) return null;
  const summary = summarizeEvaluation(stored.counts);
  return {
    evaluation: stored.evaluation,
    split: stored.split,
    at: stored.at,
    n: summary.n,
    accuracy: summary.accuracy.value,
    accuracyCi: summary.accuracy.ci,
    aucCovid: summary.aucCovid.value,
    aucCovidCi: summary.aucCovid.ci,
    sameDenoiser: stored.denoiserSha256 === denoiserSha256,
  };
}

/** One line for people: the figures, or why there are none. */
export function evaluationLine(figures: SiteEvaluationFigures | null, atSite: boolean): string {
  if (!atSite) return 'no site folder: this model\'s accuracy at this site is not known';
  if (!figures) return 'this model was never evaluated at this site (an admin starts a federated evaluation from the dashboard)';
  const pct = (v: number): string => `${(v * 100).toFixed(0)} %`;
  const accuracy = figures.accuracy === null ? 'no accuracy' : `accuracy ${pct(figures.accuracy)} (95 % CI ${pct(figures.accuracyCi[0])}–${pct(figures.accuracyCi[1])})`;
  const auc = figures.aucCovid === null ? '' : `, Covid AUC ${figures.aucCovid.toFixed(2)}`;
  const denoiser = figures.sameDenoiser ? '' : ' (measured with another denoiser)';
  return `at this site: ${accuracy}${auc} on ${figures.n} ${figures.split} studies, ${figures.at.slice(0, 10)}${denoiser}`;
}
