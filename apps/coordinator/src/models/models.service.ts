import { Inject, Injectable } from '@nestjs/common';
import { decodeModelBlob, type ModelManifest, type ModelRef, type Phase, type PublishedModel, ProtocolError } from '@fedct/protocol';
import { AuditService } from '../core/audit.service';
import { CoordinatorError } from '../core/errors';
import { ModelStore } from './model-store';
import { ModelsRepository, type ModelRow } from './models.repository';

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
    @Inject(ModelsRepository) private readonly repo: ModelsRepository,
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
    const view = this.repo.durable(() => {
      const seq = this.repo.nextSeq();
      const version = `v${seq}`;
      this.repo.insert({
        seq, version, sha256: sha, bytes: model.bytes.length, model: manifest.model, phase: model.phase ?? null, parent: model.parent ?? null,
        experiment_id: model.experiment ?? null, round: model.round ?? null, metrics: JSON.stringify(model.metrics ?? {}), source: model.source, created_at: new Date().toISOString(),
      });
      return this.get(version);
    });
    this.audit.record(model.source === 'upload' ? 'admin' : 'system', 'model.registered', { version: view.version, sha256: sha, experiment: view.experiment, round: view.round });
    return view;
  }

  list(): ModelView[] {
    return this.repo.list().map(toView);
  }

  find(version: string): ModelView | null {
    const row = this.repo.find(version);
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
    const yes = this.repo.hasSha256(sha256);
    if (yes) this.registered.add(sha256);
    return yes;
  }

  /**
   * The newest version a round published for `phase` (the round table's published rounds, newest
   * first, joined with their experiment's phase), or null.
   */
  latestPublished(phase: Phase): PublishedModel | null {
    const row = this.repo.latestPublished(phase);
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
