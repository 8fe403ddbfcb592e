import { Inject, Injectable } from '@nestjs/common';
import type { EvaluationCounts, ExperimentSettings, Phase, RoundState } from '@fedct/protocol';
import { DATABASE, type Db, durableTransaction } from '../core/database';

export type ExperimentStatus = 'running' | 'paused' | 'completed' | 'failed' | 'aborted';
export type SiteRoundStatus = 'invited' | 'accepted' | 'rejected' | 'failed' | 'dropped';

export interface ExperimentRecord {
  id: string;
  name: string | null;
  phase: Phase;
  settings: ExperimentSettings;
  status: ExperimentStatus;
  currentModel: string | null;
  publishedRounds: number;
  consecutiveFailures: number;
  reason: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface RoundRecord {
  experimentId: string;
  round: number;
  state: RoundState;
  baseModel: string | null;
  participants: string[];
  startedAt: string;
  deadline: string;
  closedAt: string | null;
  modelVersion: string | null;
  reason: string | null;
  metrics: Record<string, number>;
}

export interface RoundResultRecord {
  siteId: string;
  status: SiteRoundStatus;
  sampleCount: number | null;
  metrics: Record<string, number> | null;
  reason: string | null;
  updatedAt: string;
}

interface ExperimentRow {
  id: string;
  name: string | null;
  phase: Phase;
  settings: string;
  status: ExperimentStatus;
  current_model: string | null;
  published_rounds: number;
  consecutive_failures: number;
  reason: string | null;
  created_at: string;
  updated_at: string;
}
interface RoundRow {
  experiment_id: string;
  round: number;
  state: RoundState;
  base_model: string | null;
  participants: string;
  started_at: string;
  deadline: string;
  closed_at: string | null;
  model_version: string | null;
  reason: string | null;
  metrics: string;
}
interface ResultRow {
  site_id: string;
  status: SiteRoundStatus;
  sample_count: number | null;
  metrics: string | null;
  reason: string | null;
  updated_at: string;
}

/** Every SQLite read and write of experiments, rounds and per-site round results. */
@Injectable()
export class ExperimentsRepository {
  constructor(@Inject(DATABASE) readonly db: Db) {}

  /** Runs `fn` in one SQLite transaction (nested calls become savepoints). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** A transaction fsynced before it returns (publishing). */
  durable<T>(fn: () => T): T {
    return durableTransaction(this.db, fn);
  }

  insertExperiment(e: ExperimentRecord): void {
    this.db
      .prepare('INSERT INTO experiments (id, name, phase, settings, status, current_model, published_rounds, consecutive_failures, reason, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(e.id, e.name, e.phase, JSON.stringify(e.settings), e.status, e.currentModel, e.publishedRounds, e.consecutiveFailures, e.reason, e.createdAt, e.updatedAt);
  }

  findExperiment(id: string): ExperimentRecord | null {
    const row = this.db.prepare<[string], ExperimentRow>('SELECT * FROM experiments WHERE id = ?').get(id);
    return row ? toExperiment(row) : null;
  }

  listExperiments(statuses?: ExperimentStatus[]): ExperimentRecord[] {
    const rows = this.db.prepare<[], ExperimentRow>('SELECT * FROM experiments ORDER BY created_at, id').all();
    return rows.map(toExperiment).filter((e) => !statuses || statuses.includes(e.status));
  }

  updateExperiment(id: string, patch: Partial<Pick<ExperimentRecord, 'status' | 'currentModel' | 'publishedRounds' | 'consecutiveFailures' | 'reason'>>): void {
    const current = this.findExperiment(id);
    if (!current) throw new Error(`no experiment ${id}`);
    const next = { ...current, ...patch };
    this.db
      .prepare('UPDATE experiments SET status = ?, current_model = ?, published_rounds = ?, consecutive_failures = ?, reason = ?, updated_at = ? WHERE id = ?')
      .run(next.status, next.currentModel, next.publishedRounds, next.consecutiveFailures, next.reason, new Date().toISOString(), id);
  }

  insertRound(r: RoundRecord): void {
    this.db
      .prepare('INSERT INTO rounds (experiment_id, round, state, base_model, participants, started_at, deadline, closed_at, model_version, reason, metrics) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(r.experimentId, r.round, r.state, r.baseModel, JSON.stringify(r.participants), r.startedAt, r.deadline, r.closedAt, r.modelVersion, r.reason, JSON.stringify(r.metrics));
    const insert = this.db.prepare("INSERT INTO round_results (experiment_id, round, site_id, status, updated_at) VALUES (?, ?, ?, 'invited', ?)");
    for (const site of r.participants) insert.run(r.experimentId, r.round, site, r.startedAt);
  }

  updateRound(experimentId: string, round: number, patch: Partial<Pick<RoundRecord, 'state' | 'closedAt' | 'modelVersion' | 'reason' | 'metrics'>>): void {
    const current = this.findRound(experimentId, round);
    if (!current) throw new Error(`no round ${experimentId}/${round}`);
    const next = { ...current, ...patch };
    this.db
      .prepare('UPDATE rounds SET state = ?, closed_at = ?, model_version = ?, reason = ?, metrics = ? WHERE experiment_id = ? AND round = ?')
      .run(next.state, next.closedAt, next.modelVersion, next.reason, JSON.stringify(next.metrics), experimentId, round);
  }

  findRound(experimentId: string, round: number): RoundRecord | null {
    const row = this.db.prepare<[string, number], RoundRow>('SELECT * FROM rounds WHERE experiment_id = ? AND round = ?').get(experimentId, round);
    return row ? toRound(row) : null;
  }

  lastRound(experimentId: string): RoundRecord | null {
    const row = this.db.prepare<[string], RoundRow>('SELECT * FROM rounds WHERE experiment_id = ? ORDER BY round DESC LIMIT 1').get(experimentId);
    return row ? toRound(row) : null;
  }

  listRounds(experimentId: string): RoundRecord[] {
    return this.db.prepare<[string], RoundRow>('SELECT * FROM rounds WHERE experiment_id = ? ORDER BY round').all(experimentId).map(toRound);
  }

  /** Rounds not yet published or failed (after a restart these are resumed or failed). */
  unfinishedRounds(): RoundRecord[] {
    return this.db.prepare<[], RoundRow>("SELECT * FROM rounds WHERE state IN ('open', 'training', 'aggregating') ORDER BY experiment_id, round").all().map(toRound);
  }

  results(experimentId: string, round: number): RoundResultRecord[] {
    return this.db
      .prepare<[string, number], ResultRow>('SELECT * FROM round_results WHERE experiment_id = ? AND round = ? ORDER BY site_id')
      .all(experimentId, round)
      .map(toResult);
  }

  /** One site's result: a primary-key lookup (asked several times per update, so not via {@link results}). */
  result(experimentId: string, round: number, siteId: string): RoundResultRecord | null {
    const row = this.db
      .prepare<[string, number, string], ResultRow>('SELECT * FROM round_results WHERE experiment_id = ? AND round = ? AND site_id = ?')
      .get(experimentId, round, siteId);
    return row ? toResult(row) : null;
  }

  /** How many of a round's participants have each status (counted by SQLite: no rows decoded). */
  statusCounts(experimentId: string, round: number): Partial<Record<SiteRoundStatus, number>> {
    const counts: Partial<Record<SiteRoundStatus, number>> = {};
    const rows = this.db
      .prepare<[string, number], { status: SiteRoundStatus; n: number }>('SELECT status, COUNT(*) AS n FROM round_results WHERE experiment_id = ? AND round = ? GROUP BY status')
      .all(experimentId, round);
    for (const { status, n } of rows) counts[status] = n;
    return counts;
  }

  setResult(experimentId: string, round: number, siteId: string, status: SiteRoundStatus, extra: { sampleCount?: number; metrics?: Record<string, number>; reason?: string } = {}): void {
    this.db
      .prepare('UPDATE round_results SET status = ?, sample_count = COALESCE(?, sample_count), metrics = COALESCE(?, metrics), reason = ?, updated_at = ? WHERE experiment_id = ? AND round = ? AND site_id = ?')
      .run(status, extra.sampleCount ?? null, extra.metrics ? JSON.stringify(extra.metrics) : null, extra.reason ?? null, new Date().toISOString(), experimentId, round, siteId);
  }

  /** Stores one site's evaluation counts (federated evaluation; JSON of @fedct/protocol EvaluationCounts). */
  insertEvaluationResult(experimentId: string, round: number, siteId: string, split: string, counts: EvaluationCounts): void {
    this.db
      .prepare('INSERT INTO evaluation_results (experiment_id, round, site_id, split, counts, received_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(experimentId, round, siteId, split, JSON.stringify(counts), new Date().toISOString());
  }

  /** The stored counts of an evaluation, by site. */
  evaluationResults(experimentId: string): Map<string, EvaluationCounts> {
    const rows = this.db.prepare<[string], { site_id: string; counts: string }>('SELECT site_id, counts FROM evaluation_results WHERE experiment_id = ? ORDER BY site_id').all(experimentId);
    return new Map(rows.map((r) => [r.site_id, JSON.parse(r.counts) as EvaluationCounts]));
  }

  /** Records a nonce; false if it was seen before for this experiment and round (a replay). */
  rememberNonce(experimentId: string, round: number, nonce: string): boolean {
    return this.db.prepare('INSERT OR IGNORE INTO seen_nonces (experiment_id, round, nonce) VALUES (?, ?, ?)').run(experimentId, round, nonce).changes === 1;
  }
}

function toExperiment(r: ExperimentRow): ExperimentRecord {
  return {
    id: r.id,
    name: r.name,
    phase: r.phase,
    settings: JSON.parse(r.settings) as ExperimentSettings,
    status: r.status,
    currentModel: r.current_model,
    publishedRounds: r.published_rounds,
    consecutiveFailures: r.consecutive_failures,
    reason: r.reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toResult(r: ResultRow): RoundResultRecord {
  return {
    siteId: r.site_id,
    status: r.status,
    sampleCount: r.sample_count,
    metrics: r.metrics ? (JSON.parse(r.metrics) as Record<string, number>) : null,
    reason: r.reason,
    updatedAt: r.updated_at,
  };
}

function toRound(r: RoundRow): RoundRecord {
  return {
    experimentId: r.experiment_id,
    round: r.round,
    state: r.state,
    baseModel: r.base_model,
    participants: JSON.parse(r.participants) as string[],
    startedAt: r.started_at,
    deadline: r.deadline,
    closedAt: r.closed_at,
    modelVersion: r.model_version,
    reason: r.reason,
    metrics: JSON.parse(r.metrics) as Record<string, number>,
  };
}
