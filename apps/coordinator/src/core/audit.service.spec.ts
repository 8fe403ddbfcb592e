import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditRepository } from './audit.repository';
import { AuditService, auditHash } from './audit.service';
import { openDatabase, type Db } from './database';

const dirs: string[] = [];
function fresh(): Db {
  const dir = mkdtempSync(join(tmpdir(), 'fedct-audit-'));
  dirs.push(dir);
  return openDatabase(dir);
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe(AuditService.name, () => {
  it('chains each entry to the previous one', () => {
    const db = fresh();
    const audit = new AuditService(new AuditRepository(db));
    const a = audit.record('admin', 'x', { n: 1 });
    const b = audit.record('site:s1', 'y', { n: 2 });
    expect(a.prevHash).toBe('0'.repeat(64));
    expect(b.prevHash).toBe(a.hash);
    expect(b.hash).toBe(auditHash(a.hash, 2, b.time, 'site:s1', 'y', JSON.stringify({ n: 2 })));
    expect(audit.verify()).toEqual({ ok: true, entries: 2, brokenAt: null });
    db.close();
  });

  it('names the first entry changed behind its back, even with the triggers dropped', () => {
    const db = fresh();
    const audit = new AuditService(new AuditRepository(db));
    for (let i = 0; i < 5; i++) audit.record('admin', 'event', { i });
    expect(() => db.prepare('DELETE FROM audit WHERE seq = 5').run()).toThrow(/append-only/);
    db.exec('DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;');
    db.prepare(`UPDATE audit SET detail = '{"i":99}' WHERE seq = 3`).run();
    expect(audit.verify()).toMatchObject({ ok: false, brokenAt: 3 });
    db.prepare(`UPDATE audit SET detail = '{"i":2}' WHERE seq = 3`).run();
    db.prepare('DELETE FROM audit WHERE seq = 2').run();
    expect(audit.verify()).toMatchObject({ ok: false, brokenAt: 3 });
    db.close();
  });

  it('refuses to change or delete a registered model version', () => {
    const db = fresh();
    db.prepare("INSERT INTO models (seq, version, sha256, bytes, model, metrics, source, created_at) VALUES (1, 'v1', ?, 1, 'm', '{}', 'upload', 'now')").run('a'.repeat(64));
    expect(() => db.prepare("UPDATE models SET sha256 = 'b' WHERE version = 'v1'").run()).toThrow(/immutable/);
    expect(() => db.prepare("DELETE FROM models WHERE version = 'v1'").run()).toThrow(/immutable/);
    db.close();
  });
});
