/**
 * The shape of `demo-output/report.json`. Everything a reader (or the e2e test) needs to judge what
 * federation bought: the federated model, every single site alone and all data pooled, on the same
 * external test set.
 */

import type { ClassName } from '@fedct/protocol';

/** Class names in the classifier's label order: the protocol's one list. */
export { CLASS_NAMES, type ClassName } from '@fedct/protocol';

/** One point of a ROC curve (false-positive rate, true-positive rate). */
export interface RocPoint {
  fpr: number;
  tpr: number;
}

/** Metrics of one classifier on the external test set (spec §6). */
export interface TestMetrics {
  /** Number of test studies. */
  n: number;
  /** 3-class accuracy. */
  accuracy: number;
  /** Covid-19 vs rest accuracy. */
  accuracyCovidVsRest: number;
  /** ROC AUC of Covid-19 vs rest. */
  auc: number;
  /** Macro and micro average one-vs-rest AUC over the three classes (paper Fig. 5). */
  aucMacro: number;
  aucMicro: number;
  /** Covid-19 sensitivity (recall) and specificity. */
  sensitivity: number;
  specificity: number;
  /** confusion[true][predicted], label order {@link CLASS_NAMES}. */
  confusion: number[][];
  perClass: Record<ClassName, { precision: number; recall: number; f1: number }>;
  /** ROC curve of Covid-19 vs rest (for the plot). */
  roc: RocPoint[];
}

/** Per-split, per-class study counts. */
export type SplitCounts = Record<'train' | 'val', Record<ClassName, number>>;

export interface ReportSite {
  name: string;
  scanner: string;
  /** Coordinator's id once enrolled. */
  siteId: string | null;
  counts: SplitCounts;
}

export interface ReportRound {
  phase: 'denoiser' | 'classifier';
  experiment: string;
  /** Round number (1-based) within its experiment. */
  index: number;
  /** Site names that had an accepted update in the round. */
  participants: string[];
  /** Sample-weighted mean training loss reported by the sites (null if none reported it). */
  loss: number | null;
  /** Sample-weighted means of every other metric the sites reported. */
  metrics: Record<string, number>;
  modelVersion: string | null;
  state: string;
}

export interface ModelIdentity {
  version: string;
  sha256: string;
}

export interface BaselineResult {
  /** Site name, or "pooled" for centralised training. */
  name: string;
  /** Training epochs over that data (the same total budget as the federated run). */
  epochs: number;
  trainStudies: number;
  trainMs: number;
  test: TestMetrics;
}

/**
 * The final federated classifier measured at one site through `POST /api/evaluations` (the site ran
 * it on its own studies and sent only aggregate counts; the coordinator computed the figures).
 */
export interface SiteEvaluation {
  site: string;
  split: 'val' | 'test';
  /** The coordinator's evaluation id. */
  evaluation: string;
  n: number;
  /** 3-class accuracy (null with n = 0) and its Wilson 95 % interval. */
  accuracy: number | null;
  accuracyCi: [number, number];
  /** Covid-19-vs-rest ROC AUC from the sites' binned scores, with its DeLong 95 % interval (null when a class is absent). */
  aucCovid: number | null;
  aucCovidCi: [number, number] | null;
  /** confusion[true][predicted], label order {@link CLASS_NAMES}. */
  confusion: number[][];
}

export interface FaultEvent {
  /** ms since the demo started. */
  atMs: number;
  kind: 'site-killed' | 'site-restarted' | 'coordinator-killed' | 'coordinator-restarted';
  target: string;
  detail: string;
}

/** report.json. */
export interface DemoReport {
  profile: string;
  createdAt: string;
  seed: number;
  /** Compute backend used for the in-process parts (evaluation, baselines). */
  backend: string;
  /** Classifier input shape [depth, height, width]. */
  inputShape: [number, number, number];
  sites: ReportSite[];
  external: { name: string; scanner: string; counts: Record<ClassName, number>; calibration?: Record<ClassName, number> };
  rounds: ReportRound[];
  federated: {
    denoiser: ModelIdentity;
    classifier: ModelIdentity;
    /** Every version the registry lists at the end (nothing published is ever lost). */
    publishedModels: ModelIdentity[];
    secureAggregation: boolean;
    /**
     * On the external test set as the external hospital predicts: with a BatchNorm classifier and an
     * archive, each scanner model's BatchNorm statistics from that hospital's own unlabeled studies.
     */
    test: TestMetrics;
    /** Where `test` took its BatchNorm statistics: per scanner model, the archive's study count; null = the model's own. */
    calibration: Record<string, number> | null;
    /** With `calibration`: the same classifier with its own (FedAvg-averaged) statistics, for comparison. */
    testModelStatistics: TestMetrics | null;
  };
  /**
   * Federated evaluation of the final classifier: every hospital on its `val` split, the external
   * hospital on its test set (the same studies as `federated.test`, so the same confusion matrix).
   */
  evaluation: SiteEvaluation[];
  singleSite: BaselineResult[];
  centralized: BaselineResult;
  /** Bytes over the wire as the coordinator counted them (sum over coordinator restarts). */
  bytes: { toSites: number; fromSites: number; modelBlob: { denoiser: number; classifier: number } };
  timingsMs: Record<string, number>;
  faults: FaultEvent[];
}
