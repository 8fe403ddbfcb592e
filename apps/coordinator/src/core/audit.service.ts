import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { AuditRepository } from './audit.repository';

export interface AuditEntry {
  seq: number;
  time: string;
  actor: string;
  event: string;
  detail: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

const GENESIS = '0'.repeat(64);

/** sha256 over the previous hash and the canonical fields of one entry. */
export function auditHash(prevHash: string, seq: number, time: string, actor: string, event: string, detail: string): string {
  return createHash('sha256').update(`${prevHash}\n${seq}\n${time}\n${actor}\n${event}\n${detail}`).digest('hex');
}

/**
 * The append-only audit log. Each entry's hash covers the previous entry's hash, so changing or
 * removing any entry breaks the chain at that point ({@link AuditService.verify}). SQLite triggers
 * refuse UPDATE and DELETE on the table.
 */
@Injectable()
export class AuditService {
  constructor(@Inject(AuditRepository) private readonly repo: AuditRepository) {}

  /** Appends one event; `actor` is `admin`, `site:<id>`, `system` or `anonymous`. */
  record(actor: string, event: string, detail: Record<string, unknown> = {}): AuditEntry {
    return this.repo.transaction(() => {
      const last = this.repo.last();
      const seq = (last?.seq ?? 0) + 1;
      const prevHash = last?.hash ?? GENESIS;
      const time = new Date().toISOString();
      const text = JSON.stringify(detail);
      const hash = auditHash(prevHash, seq, time, actor, event, text);
      this.repo.insert({ seq, time, actor, event, detail: text, prev_hash: prevHash, hash });
      return { seq, time, actor, event, detail, prevHash, hash };
    });
  }

  /** Entries after `afterSeq`, oldest first, optionally only one event kind. */
  list(afterSeq = 0, limit = 500, event?: string): AuditEntry[] {
    return this.repo.list(afterSeq, limit, event).map((r) => ({ seq: r.seq, time: r.time, actor: r.actor, event: r.event, detail: JSON.parse(r.detail) as Record<string, unknown>, prevHash: r.prev_hash, hash: r.hash }));
  }

  /** Recomputes the chain; `brokenAt` is the first entry whose hash or link does not match (null = intact). */
  verify(): { ok: boolean; entries: number; brokenAt: number | null } {
    let prev = GENESIS;
    let count = 0;
    let expectedSeq = 1;
    for (const r of this.repo.all()) {
      count++;
      if (r.seq !== expectedSeq || r.prev_hash !== prev || auditHash(prev, r.seq, r.time, r.actor, r.event, r.detail) !== r.hash) {
        return { ok: false, entries: count, brokenAt: r.seq };
      }
      prev = r.hash;
      expectedSeq++;
    }
    return { ok: true, entries: count, brokenAt: null };
  }
}
