import { Inject, Injectable } from '@nestjs/common';
import { DATABASE, type Db } from '../core/database';

/** A `sites` row. */
export interface SiteRow {
  id: string;
  name: string;
  signing_public_key: string;
  box_public_key: string;
  enrolled_at: string;
  revoked_at: string | null;
  revoke_reason: string | null;
  last_seen: string | null;
  backend: string | null;
  gpu: number | null;
  datasets: string | null;
}

/** An `enrollment_tokens` row (the token itself is never stored, only its sha256). */
export interface TokenRow {
  token_hash: string;
  site_name: string;
  expires_at: string;
  used_at: string | null;
}

/** Every SQLite read and write of enrolled sites and enrolment tokens. */
@Injectable()
export class SitesRepository {
  constructor(@Inject(DATABASE) private readonly db: Db) {}

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  insertToken(tokenHash: string, siteName: string, createdAt: string, expiresAt: string): void {
    this.db.prepare('INSERT INTO enrollment_tokens (token_hash, site_name, created_at, expires_at) VALUES (?, ?, ?, ?)').run(tokenHash, siteName, createdAt, expiresAt);
  }

  findToken(tokenHash: string): TokenRow | null {
    return this.db.prepare<[string], TokenRow>('SELECT token_hash, site_name, expires_at, used_at FROM enrollment_tokens WHERE token_hash = ?').get(tokenHash) ?? null;
  }

  useToken(tokenHash: string, siteId: string, usedAt: string): void {
    this.db.prepare('UPDATE enrollment_tokens SET used_at = ?, site_id = ? WHERE token_hash = ?').run(usedAt, siteId, tokenHash);
  }

  idBySigningKey(signingPublicKey: string): string | null {
    return this.db.prepare<[string], { id: string }>('SELECT id FROM sites WHERE signing_public_key = ?').get(signingPublicKey)?.id ?? null;
  }

  insertSite(site: { id: string; name: string; signingPublicKey: string; boxPublicKey: string; enrolledAt: string }): void {
    this.db.prepare('INSERT INTO sites (id, name, signing_public_key, box_public_key, enrolled_at) VALUES (?, ?, ?, ?, ?)').run(site.id, site.name, site.signingPublicKey, site.boxPublicKey, site.enrolledAt);
  }

  list(): SiteRow[] {
    return this.db.prepare<[], SiteRow>('SELECT * FROM sites ORDER BY enrolled_at, id').all();
  }

  find(id: string): SiteRow | null {
    return this.db.prepare<[string], SiteRow>('SELECT * FROM sites WHERE id = ?').get(id) ?? null;
  }

  /** One indexed column (the gateway asks before every message): undefined = no such site. */
  revokedAt(id: string): string | null | undefined {
    return this.db.prepare<[string], { revoked_at: string | null }>('SELECT revoked_at FROM sites WHERE id = ?').get(id)?.revoked_at;
  }

  revoke(id: string, at: string, reason: string): void {
    this.db.prepare('UPDATE sites SET revoked_at = ?, revoke_reason = ? WHERE id = ?').run(at, reason, id);
  }

  heartbeat(id: string, at: string, backend: string, gpu: boolean, datasets: Record<string, number>): void {
    this.db.prepare('UPDATE sites SET last_seen = ?, backend = ?, gpu = ?, datasets = ? WHERE id = ?').run(at, backend, gpu ? 1 : 0, JSON.stringify(datasets), id);
  }

  touch(id: string, at: string): void {
    this.db.prepare('UPDATE sites SET last_seen = ? WHERE id = ?').run(at, id);
  }
}
