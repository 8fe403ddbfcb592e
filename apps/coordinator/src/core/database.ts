import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** Injection token of the coordinator's better-sqlite3 connection. */
export const DATABASE = Symbol('DATABASE');
export type Db = Database.Database;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS enrollment_tokens (
  token_hash TEXT PRIMARY KEY,
  site_name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at TEXT,
  site_id TEXT
);
CREATE TABLE IF NOT EXISTS sites (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  signing_public_key TEXT NOT NULL UNIQUE,
  box_public_key TEXT NOT NULL,
  enrolled_at TEXT NOT NULL,
  revoked_at TEXT,
  revoke_reason TEXT,
  last_seen TEXT,
  backend TEXT,
  gpu INTEGER,
  datasets TEXT
);
CREATE TABLE IF NOT EXISTS models (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  version TEXT NOT NULL UNIQUE,
  sha256 TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  model TEXT NOT NULL,
  phase TEXT,
  parent TEXT,
  experiment_id TEXT,
  round INTEGER,
  metrics TEXT NOT NULL DEFAULT '{}',
  source TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS models_no_update BEFORE UPDATE ON models BEGIN SELECT RAISE(ABORT, 'model versions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS models_no_delete BEFORE DELETE ON models BEGIN SELECT RAISE(ABORT, 'model versions are immutable'); END;
CREATE TABLE IF NOT EXISTS experiments (
  id TEXT PRIMARY KEY,
  name TEXT,
  phase TEXT NOT NULL,
  settings TEXT NOT NULL,
  status TEXT NOT NULL,
  current_model TEXT,
  published_rounds INTEGER NOT NULL DEFAULT 0,
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  reason TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rounds (
  experiment_id TEXT NOT NULL,
  round INTEGER NOT NULL,
  state TEXT NOT NULL,
  base_model TEXT,
  participants TEXT NOT NULL,
  started_at TEXT NOT NULL,
  deadline TEXT NOT NULL,
  closed_at TEXT,
  model_version TEXT,
  reason TEXT,
  metrics TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (experiment_id, round)
);
CREATE TABLE IF NOT EXISTS round_results (
  experiment_id TEXT NOT NULL,
  round INTEGER NOT NULL,
  site_id TEXT NOT NULL,
  status TEXT NOT NULL,
  sample_count INTEGER,
  metrics TEXT,
  reason TEXT,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (experiment_id, round, site_id)
);
CREATE TABLE IF NOT EXISTS seen_nonces (
  experiment_id TEXT NOT NULL,
  round INTEGER NOT NULL,
  nonce TEXT NOT NULL,
  PRIMARY KEY (experiment_id, round, nonce)
);
CREATE TABLE IF NOT EXISTS evaluation_results (
  experiment_id TEXT NOT NULL,
  round INTEGER NOT NULL,
  site_id TEXT NOT NULL,
  split TEXT NOT NULL,
  counts TEXT NOT NULL,
  received_at TEXT NOT NULL,
  PRIMARY KEY (experiment_id, round, site_id)
);
CREATE TABLE IF NOT EXISTS uploads (
  id TEXT PRIMARY KEY,
  site_id TEXT NOT NULL,
  experiment_id TEXT NOT NULL,
  round INTEGER NOT NULL,
  manifest TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY,
  time TEXT NOT NULL,
  actor TEXT NOT NULL,
  event TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
`;

/** Opens (and creates) `dataDir/coordinator.sqlite` in WAL mode and applies the schema. */
export function openDatabase(dataDir: string): Db {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, 'coordinator.sqlite'));
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode survives a process crash; a power cut may lose the latest transactions but
  // never corrupts. Publishing a model runs with FULL ({@link durableTransaction}).
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.exec(SCHEMA);
  cacheStatements(db);
  return db;
}

/**
 * Makes `db.prepare` return one compiled statement per SQL text instead of compiling it again on
 * every call (the gateway runs a few queries per upload chunk). Callers never change a statement's
 * mode (`pluck`, `raw`, `expand`, `safeIntegers`), so sharing is safe.
 */
function cacheStatements(db: Db): void {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, Database.Statement>();
  const cached = (sql: string): Database.Statement => {
    let statement = cache.get(sql);
    if (!statement) {
      if (cache.size >= 512) cache.clear();
      statement = prepare(sql);
      cache.set(sql, statement);
    }
    return statement;
  };
  db.prepare = cached as Db['prepare'];
}

/**
 * Runs `fn` in a transaction that is on disk (fsynced) when it returns: used to publish model
 * versions, so a published version survives even a power cut. Inside another transaction it just
 * joins it (the outer one decides).
 */
export function durableTransaction<T>(db: Db, fn: () => T): T {
  if (db.inTransaction) return db.transaction(fn)();
  db.pragma('synchronous = FULL');
  try {
    return db.transaction(fn)();
  } finally {
    db.pragma('synchronous = NORMAL');
  }
}
