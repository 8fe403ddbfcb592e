import type { CreateExperiment } from '@fedct/protocol';
import type { AdminClient, ExperimentView, RoundView } from './admin-client';
import { sleep } from './concurrency';
import { DemoError } from './errors';
import type { ReportRound } from './report/report.types';

/** Sample-weighted mean of each metric over the accepted site results of a round. */
export function roundMetrics(round: RoundView): { loss: number | null; metrics: Record<string, number> } {
  const sums: Record<string, { total: number; weight: number }> = {};
  const accepted = round.results.filter((r) => r.status === 'accepted' && r.metrics);
  for (const r of accepted) {
    const w = r.sampleCount && r.sampleCount > 0 ? r.sampleCount : 1;
    for (const [k, v] of Object.entries(r.metrics ?? {})) {
      if (!Number.isFinite(v)) continue;
      const s = (sums[k] ??= { total: 0, weight: 0 });
      s.total += v * w;
      s.weight += w;
    }
  }
  const metrics: Record<string, number> = { ...round.metrics };
  for (const [k, s] of Object.entries(sums)) if (metrics[k] === undefined && s.weight > 0) metrics[k] = s.total / s.weight;
  const lossKey = 'loss' in metrics ? 'loss' : Object.keys(metrics).find((k) => /loss/i.test(k) && !/val/i.test(k));
  const loss = lossKey !== undefined ? (metrics[lossKey] ?? null) : null;
  if (lossKey === 'loss') delete metrics.loss;
  return { loss, metrics };
}

/** The rounds of an experiment for the report, with site ids turned into names. */
export function reportRounds(view: ExperimentView, phase: ReportRound['phase'], siteNames: ReadonlyMap<string, string>): ReportRound[] {
  return view.rounds.map((r) => {
    const { loss, metrics } = roundMetrics(r);
    const acceptedSites = r.results.filter((x) => x.status === 'accepted').map((x) => x.siteId);
    const ids = acceptedSites.length > 0 ? acceptedSites : r.participants;
    return { phase, experiment: view.id, index: r.round, participants: ids.map((id) => siteNames.get(id) ?? id), loss, metrics, modelVersion: r.modelVersion, state: r.state };
  });
}

export interface ExperimentOutcome {
  view: ExperimentView;
  durationMs: number;
}

export interface RunExperimentOptions {
  admin: AdminClient;
  settings: CreateExperiment;
  timeoutMs: number;
  pollMs?: number;
  /** Prints one progress line. */
  print: (line: string) => void;
  siteNames: () => ReadonlyMap<string, string>;
  /** Called after every successful poll (fault injection hooks in here). */
  onPoll?: (view: ExperimentView) => Promise<void>;
  /** Called before every poll; throws when a demo process died unexpectedly. */
  check?: () => void;
}

const FINAL = new Set(['completed', 'failed', 'aborted']);

/**
 * Creates an experiment and polls it until it ends, printing a line whenever a round changes state.
 * A coordinator that is briefly unreachable (restarting) is waited for; the experiment must end
 * `completed` or this fails with the coordinator's reason.
 */
export async function runExperiment(options: RunExperimentOptions): Promise<ExperimentOutcome> {
  const { admin, settings, print } = options;
  const started = Date.now();
  const id = await admin.createExperiment(settings);
  print(`[${settings.phase}] experiment ${id} started: ${settings.rounds} rounds, quorum ${settings.minSites ?? 1}, ${settings.strategy ?? 'fedavg'}${settings.secureAgg ? ', secure aggregation' : ''}`);
  const seen = new Map<string, string>();
  let unreachableSince: number | null = null;
  for (;;) {
    options.check?.();
    if (Date.now() - started > options.timeoutMs) throw new DemoError(`${settings.phase} experiment ${id} did not finish within ${Math.round(options.timeoutMs / 1000)} s`);
    let view: ExperimentView;
    try {
      view = await options.admin.experiment(id);
      if (unreachableSince !== null) print(`[${settings.phase}] coordinator reachable again after ${((Date.now() - unreachableSince) / 1000).toFixed(1)} s`);
      unreachableSince = null;
    } catch (error) {
      if (unreachableSince === null) {
        unreachableSince = Date.now();
        print(`[${settings.phase}] coordinator not reachable (${error instanceof Error ? error.message : String(error)}); waiting`);
      }
      await sleep(options.pollMs ?? 1000);
      continue;
    }
    const names = options.siteNames();
    for (const r of reportRounds(view, settings.phase, names)) {
      const raw = view.rounds.find((x) => x.round === r.index);
      const accepted = raw?.results.filter((x) => x.status === 'accepted').length ?? 0;
      const key = `${r.index}`;
      const state = `${r.state}:${accepted}`;
      if (seen.get(key) === state) continue;
      seen.set(key, state);
      const elapsed = ((Date.now() - started) / 1000).toFixed(1);
      const metrics = Object.entries(r.metrics)
        .slice(0, 4)
        .map(([k, v]) => `${k} ${v.toFixed(3)}`)
        .join(', ');
      const detail =
        r.state === 'published'
          ? `published ${r.modelVersion ?? ''}: ${r.participants.length} participants (${r.participants.join(', ')}), loss ${r.loss === null ? '—' : r.loss.toFixed(4)}${metrics ? `, ${metrics}` : ''}`
          : `${r.state}, ${accepted}/${raw?.participants.length ?? 0} updates in`;
      print(`[${settings.phase}] round ${r.index}/${settings.rounds} ${detail} (${elapsed} s)`);
    }
    if (options.onPoll) await options.onPoll(view);
    if (FINAL.has(view.status)) {
      if (view.status !== 'completed') throw new DemoError(`${settings.phase} experiment ${id} ended ${view.status}: ${view.reason ?? 'no reason given'}`);
      return { view, durationMs: Date.now() - started };
    }
    await sleep(options.pollMs ?? 1000);
  }
}
