import { Inject, Injectable } from '@nestjs/common';
import { decodeModelBlob, type ModelManifest, type ModelRef, type Phase, type PublishedModel, ProtocolError } from '@fedct/protocol';
import { AuditService } from '../core/audit.service';
import { DATABASE, type Db, durableTransaction } from '../core/database';
import { CoordinatorError } from '../core/errors';
import { ModelStore } from './model-store';

/** Injection token of the {@link ModelStore}. */
export const MODEL_STORE = Symbol('MODEL_STORE');

/** One registry entry. Published versions are immutable (SQLite triggers refuse UPDATE/DELETE). */
export interface ModelView {
  version: string;
  sha256: string;
  bytes: number;
  model: string;
  phase: Phase | null;
  parent: string | null;
  experiment: string | null;
  round: number | null;
  metrics: Record<string, number>;
  source: 'upload' | 'aggregate';
  createdAt: string;
}

interface ModelRow {
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

export interface NewModel {
  bytes: Uint8Array;
  source: 'upload' | 'aggregate';
  phase?: Phase | null;
  parent?: string | null;
  experiment?: string | null;
  round?: number | null;
  metrics?: Record<string, number>;
}

/** The model registry: versions `v1, v2, …` pointing at content-addressed blobs. */
@Injectable()
export class ModelsService {
  private readonly registered = new Set<string>();

  constructor(
    @Inject(DATABASE) private readonly db: Db,
    @Inject(MODEL_STORE) readonly store: ModelStore,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  /**
   * Validates and stores a blob, then records a new version. The file is written (fsynced) before the
   * row, so a row never points at a missing file. Call inside a transaction to publish atomically.
   */
  register(model: NewModel): ModelView {
    let manifest: ModelManifest;
    try {
      manifest = decodeModelBlob(model.bytes).manifest;
    } catch (cause) {
      throw new CoordinatorError(cause instanceof ProtocolError ? cause.message : 'not a model blob', 'bad_message', 400, { cause });
    }
    const sha = this.store.put(model.bytes);
    const view = durableTransaction(this.db, () => {
      const next = (this.db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'models'").get()?.seq ?? 0) + 1;
      const version = `v${next}`;
      this.db
        .prepare(
          'INSERT INTO models (seq, version, sha256, bytes, model, phase, parent, experiment_id, round, metrics, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(next, version, sha, model.bytes.length, manifest.model, model.phase ?? null, model.parent ?? null, model.experiment ?? null, model.round ?? null, JSON.stringify(model.metrics ?? {}), model.source, new Date().toISOString());
      return this.get(version);
    });
    this.audit.record(model.source === 'upload' ? 'admin' : 'system', 'model.registered', { version: view.version, sha256: sha, experiment: view.experiment, round: view.round });
    return view;
  }

  list(): ModelView[] {
    return this.db.prepare<[], ModelRow>('SELECT * FROM models ORDER BY seq').all().map(toView);
  }

  find(version: string): ModelView | null {
    const row = this.db.prepare<[string], ModelRow>('SELECT * FROM models WHERE version = ?').get(version);
    return row ? toView(row) : null;
  }

  get(version: string): ModelView {
    const model = this.find(version);
    if (!model) throw new CoordinatorError(`no model version ${version}`, 'not_found', 404);
    return model;
  }

  /** True if some registered version has this sha256 (sites may only download registered blobs). */
  isRegistered(sha256: string): boolean {
    // Registered models are never deleted (a trigger refuses it), so a "yes" can be remembered.
    if (this.registered.has(sha256)) return true;
    const yes = this.db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM models WHERE sha256 = ?').get(sha256)!.n > 0;
    if (yes) this.registered.add(sha256);
    return yes;
  }

  /**
   * The newest version a round published for `phase` (the round table's published rounds, newest
   * first, joined with their experiment's phase), or null.
   */
  latestPublished(phase: Phase): PublishedModel | null {
    const row = this.db
      .prepare<[Phase], { version: string; experiment_id: string }>(
        "SELECT r.model_version AS version, r.experiment_id FROM rounds r JOIN experiments e ON e.id = r.experiment_id WHERE r.state = 'published' AND r.model_version IS NOT NULL AND e.phase = ? ORDER BY r.closed_at DESC, r.rowid DESC LIMIT 1",
      )
      .get(phase);
    return row ? this.published(row.version, phase, row.experiment_id) : null;
  }

  /** A registered version as the `model.published` event names it. */
  published(version: string, phase: Phase, experiment: string | null): PublishedModel {
    const m = this.get(version);
    return { version: m.version, sha256: m.sha256, bytes: m.bytes, phase, experiment };
  }

  ref(version: string): ModelRef {
    const m = this.get(version);
    return { version: m.version, sha256: m.sha256, bytes: m.bytes };
  }
}

function toView(r: ModelRow): ModelView {
  return {
    version: r.version,
    sha256: r.sha256,
    bytes: r.bytes,
    model: r.model,
    phase: r.phase,
    parent: r.parent,
    experiment: r.experiment_id,
    round: r.round,
    metrics: JSON.parse(r.metrics) as Record<string, number>,
    source: r.source,
    createdAt: r.created_at,
  };
}
