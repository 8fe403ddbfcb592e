import type { AdminClient, EvaluationReply } from './admin-client';
import { sleep } from './concurrency';
import { DemoError } from './errors';
import type { SiteEvaluation } from './report/report.types';

/** One federated evaluation the demo asks for: a split at some sites. */
export interface EvaluationRequest {
  name: string;
  split: 'val' | 'test';
  siteIds: string[];
  /** Who, for the progress line. */
  label: string;
}

const FINAL = new Set(['completed', 'failed', 'aborted']);

/**
 * Measures the final federated classifier through the coordinator (`POST /api/evaluations`) as an
 * admin does: each request is one evaluation experiment in which the chosen sites' daemons run the
 * model on their own split and return only aggregate counts. Polls until every evaluation ends and
 * returns one report entry per site, in request order; a site that refused or did not answer is an
 * error (every demo site's policy allows what the demo asks).
 */
export async function federatedEvaluations(options: {
  admin: AdminClient;
  classifierVersion: string;
  requests: readonly EvaluationRequest[];
  timeoutMs: number;
  print: (line: string) => void;
  check?: () => void;
}): Promise<SiteEvaluation[]> {
  const { admin, print } = options;
  const started = Date.now();
  const created: EvaluationReply[] = [];
  for (const r of options.requests) {
    const e = await admin.createEvaluation({ classifierVersion: options.classifierVersion, split: r.split, sites: r.siteIds, name: r.name, deadlineSeconds: Math.ceil(options.timeoutMs / 1000) });
    print(`[evaluation] ${e.id}: ${options.classifierVersion} on the ${r.split} studies of ${r.label}`);
    created.push(e);
  }
  const done: EvaluationReply[] = [];
  for (const e of created) {
    let view = e;
    while (!FINAL.has(view.status)) {
      options.check?.();
      if (Date.now() - started > options.timeoutMs) throw new DemoError(`evaluation ${e.id} did not finish within ${Math.round(options.timeoutMs / 1000)} s`);
      await sleep(500);
      view = await admin.evaluation(e.id);
    }
    if (view.missing.length > 0) {
      throw new DemoError(`evaluation ${e.id}: ${view.missing.map((m) => `${m.siteName} ${m.status}${m.reason ? ` (${m.reason})` : ''}`).join('; ')}`);
    }
    done.push(view);
  }
  // In the order the request named the sites.
  return done.flatMap((view, k) =>
    [...view.sites].sort((a, b) => (options.requests[k]?.siteIds.indexOf(a.siteId) ?? 0) - (options.requests[k]?.siteIds.indexOf(b.siteId) ?? 0)).map((s) => {
      const summary = s.summary;
      if (!summary) throw new DemoError(`evaluation ${view.id}: ${s.siteName} has no result`);
      const entry: SiteEvaluation = {
        site: s.siteName,
        split: view.split,
        evaluation: view.id,
        n: summary.n,
        accuracy: summary.accuracy.value,
        accuracyCi: summary.accuracy.ci,
        aucCovid: summary.aucCovid.value,
        aucCovidCi: summary.aucCovid.ci,
        confusion: summary.confusion,
      };
      print(`[evaluation] ${s.siteName} (${view.split}, ${summary.n} studies): accuracy ${fmt(entry.accuracy)} (95 % CI ${fmt(entry.accuracyCi[0])}–${fmt(entry.accuracyCi[1])}), AUC Covid-19 ${fmt(entry.aucCovid)}`);
      return entry;
    }),
  );
}

const fmt = (v: number | null): string => (v === null ? '—' : v.toFixed(3));
