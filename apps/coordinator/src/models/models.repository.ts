import { Inject, Injectable } from '@nestjs/common';
import type { Phase } from '@fedct/protocol';
import { DATABASE, type Db, durableTransaction } from '../core/database';

/** A `models` row (immutable once written: SQLite triggers refuse UPDATE and DELETE). */
export interface ModelRow {
  seq: number;
  version: string;
  sha256: string;
  bytes: number;
  model: string;
  phase: Phase | null;
  parent: string | null;
  experiment_id: string | null;
  round: number | null;
  metrics: string;
  source: 'upload' | 'aggregate';
  created_at: string;
}

/** Every SQLite read and write of the model registry (the blobs are the model store's). */
@Injectable()
export class ModelsRepository {
  constructor(@Inject(DATABASE) private readonly db: Db) {}

  /** A transaction fsynced before it returns (a new version). */
  durable<T>(fn: () => T): T {
    return durableTransaction(this.db, fn);
  }

  /** The sequence number the next version gets (`v<seq>`). */
  nextSeq(): number {
    return (this.db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'models'").get()?.seq ?? 0) + 1;
  }

  insert(row: ModelRow): void {
    this.db
      .prepare('INSERT INTO models (seq, version, sha256, bytes, model, phase, parent, experiment_id, round, metrics, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(row.seq, row.version, row.sha256, row.bytes, row.model, row.phase, row.parent, row.experiment_id, row.round, row.metrics, row.source, row.created_at);
  }

  list(): ModelRow[] {
    return this.db.prepare<[], ModelRow>('SELECT * FROM models ORDER BY seq').all();
  }

  find(version: string): ModelRow | null {
    return this.db.prepare<[string], ModelRow>('SELECT * FROM models WHERE version = ?').get(version) ?? null;
  }

  hasSha256(sha256: string): boolean {
    return this.db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM models WHERE sha256 = ?').get(sha256)!.n > 0;
  }

  /** The newest version a round published for `phase` (joined with its experiment's phase), with its experiment. */
  latestPublished(phase: Phase): { version: string; experiment_id: string } | null {
    return (
      this.db
        .prepare<[Phase], { version: string; experiment_id: string }>(
          "SELECT r.model_version AS version, r.experiment_id FROM rounds r JOIN experiments e ON e.id = r.experiment_id WHERE r.state = 'published' AND r.model_version IS NOT NULL AND e.phase = ? ORDER BY r.closed_at DESC, r.rowid DESC LIMIT 1",
        )
        .get(phase) ?? null
    );
  }
}
