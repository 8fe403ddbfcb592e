import type { DemoReport } from './report/report.types';

/** What each profile must reach (issue 8): federated 3-class accuracy, rounds, and the single-site comparison. */
export const THRESHOLDS: Record<string, { minAccuracy: number; minClassifierRounds: number; mustBeatBestSingleSite: boolean }> = {
  tiny: { minAccuracy: 0.8, minClassifierRounds: 3, mustBeatBestSingleSite: false },
  default: { minAccuracy: 0.9, minClassifierRounds: 3, mustBeatBestSingleSite: true },
  paper: { minAccuracy: 0.9, minClassifierRounds: 3, mustBeatBestSingleSite: true },
};

/**
 * The profile's thresholds that a report misses, one line each (empty when it meets them all).
 * Also checks that every model version a published round names is still in the registry.
 */
export function checkReport(report: DemoReport): string[] {
  const t = THRESHOLDS[report.profile];
  if (!t) return [`no thresholds for profile "${report.profile}"`];
  const problems: string[] = [];
  const acc = report.federated.test.accuracy;
  if (!(acc >= t.minAccuracy)) problems.push(`federated 3-class accuracy ${(acc * 100).toFixed(1)} % is below ${(t.minAccuracy * 100).toFixed(0)} %`);
  const classifierRounds = report.rounds.filter((r) => r.phase === 'classifier' && r.state === 'published').length;
  if (classifierRounds < t.minClassifierRounds) problems.push(`${classifierRounds} published classifier rounds, expected at least ${t.minClassifierRounds}`);
  const best = report.singleSite.reduce((m, b) => Math.max(m, b.test.accuracy), -Infinity);
  if (t.mustBeatBestSingleSite && !(acc > best)) problems.push(`federated accuracy ${(acc * 100).toFixed(1)} % is not ahead of the best single site (${(best * 100).toFixed(1)} %)`);
  const registry = new Map(report.federated.publishedModels.map((m) => [m.version, m.sha256]));
  for (const r of report.rounds) {
    if (r.state === 'published' && r.modelVersion && !registry.has(r.modelVersion)) problems.push(`model ${r.modelVersion} of ${r.phase} round ${r.index} is missing from the registry`);
  }
  for (const m of [report.federated.denoiser, report.federated.classifier]) {
    if (registry.get(m.version) !== m.sha256) problems.push(`final model ${m.version} is missing from the registry or has another sha256`);
  }
  return problems;
}
