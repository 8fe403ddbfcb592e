import { Inject, Injectable } from '@nestjs/common';
import { DATABASE, type Db } from './database';

/** An `audit` row (append-only: SQLite triggers refuse UPDATE and DELETE). */
export interface AuditRow {
  seq: number;
  time: string;
  actor: string;
  event: string;
  detail: string;
  prev_hash: string;
  hash: string;
}

/** Every SQLite read and write of the audit log. */
@Injectable()
export class AuditRepository {
  private readonly insertStatement;
  private readonly lastStatement;

  constructor(@Inject(DATABASE) private readonly db: Db) {
    this.insertStatement = db.prepare('INSERT INTO audit (seq, time, actor, event, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.lastStatement = db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1');
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  last(): { seq: number; hash: string } | null {
    return this.lastStatement.get() ?? null;
  }

  insert(row: AuditRow): void {
    this.insertStatement.run(row.seq, row.time, row.actor, row.event, row.detail, row.prev_hash, row.hash);
  }

  list(afterSeq: number, limit: number, event?: string): AuditRow[] {
    return event
      ? this.db.prepare<[number, string, number], AuditRow>('SELECT * FROM audit WHERE seq > ? AND event = ? ORDER BY seq LIMIT ?').all(afterSeq, event, limit)
      : this.db.prepare<[number, number], AuditRow>('SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit);
  }

  /** Every entry, oldest first, one at a time. */
  all(): IterableIterator<AuditRow> {
    return this.db.prepare<[], AuditRow>('SELECT * FROM audit ORDER BY seq').iterate();
  }
}
