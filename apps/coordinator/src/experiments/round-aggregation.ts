import type { AggregateResult, StrategyState } from '@fedct/strategies';
import type { ActiveRound } from './active-round';
import type { RoundResultRecord } from './experiments.repository';
import type { RoundSpool } from './round-spool';

/**
 * Runs the round's strategy over its results: streaming strategies read the running sum, robust ones
 * the spooled weights block by block; `state` (server optimiser moments) is updated in place. Returns
 * the new weights or "keep", and the round's metrics (the strategy's weighting of the accepted sites').
 */
export function aggregateRound(active: ActiveRound, results: readonly RoundResultRecord[], state: StrategyState, spool: RoundSpool): { outcome: AggregateResult; metrics: Record<string, number> } {
  const accepted = results.filter((r) => r.status === 'accepted');
  const manifest = active.manifest;
  if (!manifest) throw new Error('no model manifest for the round');
  const length = active.sum?.length ?? active.base?.weights.length ?? manifest.tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  const reader = active.strategy.streaming ? null : spool.blockReader(active.dir, accepted.map((r) => r.siteId));
  try {
    const outcome = active.strategy.aggregate(
      {
        base: active.base?.weights ?? null,
        accepted: accepted.map((r) => ({ siteId: r.siteId, sampleCount: r.sampleCount ?? 0 })),
        failures: results.filter((r) => r.status !== 'accepted').map((r) => ({ siteId: r.siteId, reason: `${r.status}: ${r.reason ?? ''}` })),
        sum: active.sum,
        readBlock: reader?.read ?? null,
        length,
      },
      state,
    );
    return { outcome, metrics: active.strategy.aggregateMetrics(accepted) };
  } finally {
    reader?.close();
  }
}
