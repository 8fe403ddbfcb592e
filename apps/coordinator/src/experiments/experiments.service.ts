import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { decodeModelBlob, type ExperimentSettings } from '@fedct/protocol';
import { AuditService } from '../core/audit.service';
import { CoordinatorError } from '../core/errors';
import { SessionRegistry } from '../core/sessions.service';
import { ModelsService } from '../models/models.service';
import { type ExperimentRecord, ExperimentsRepository, type RoundRecord, type RoundResultRecord } from './experiments.repository';
import { RoundScheduler } from './round-scheduler';
import { RoundsService } from './rounds.service';

/** An experiment with its rounds, participants and metrics, as `GET /api/experiments/:id` shows it. */
export interface ExperimentView extends ExperimentRecord {
  rounds: (RoundRecord & { results: RoundResultRecord[] })[];
}

/** Creating, inspecting, pausing, resuming and aborting experiments (the rounds run in {@link RoundsService}). */
@Injectable()
export class ExperimentsService {
  constructor(
    @Inject(ExperimentsRepository) private readonly repo: ExperimentsRepository,
    @Inject(RoundsService) private readonly rounds: RoundsService,
    @Inject(RoundScheduler) private readonly scheduler: RoundScheduler,
    @Inject(ModelsService) private readonly models: ModelsService,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(SessionRegistry) private readonly sessions: SessionRegistry,
  ) {}

  create(settings: ExperimentSettings): ExperimentRecord {
    if (settings.secureAgg) {
      if (!settings.initialModel) throw new CoordinatorError('secure aggregation needs an initialModel (sites send masked deltas from a known base)', 'bad_message');
      if (settings.strategy === 'median' || settings.strategy === 'trimmed-mean') {
        throw new CoordinatorError(`strategy ${settings.strategy} needs every update; it cannot run with secure aggregation`, 'bad_message');
      }
      if (settings.minSites < 2) throw new CoordinatorError('secure aggregation needs minSites of at least 2', 'bad_message');
    }
    if (settings.initialModel) {
      const model = this.models.get(settings.initialModel);
      const blob = decodeModelBlob(this.models.store.read(model.sha256));
      if (blob.weights.length === 0) throw new CoordinatorError(`initial model ${model.version} has no weights`, 'bad_message');
    }
    if (settings.phase === 'classifier' && !settings.denoiserModel) {
      throw new CoordinatorError('a classifier experiment needs denoiserModel: the frozen BCDU-Net version sites run', 'bad_message');
    }
    if (settings.denoiserModel) this.models.get(settings.denoiserModel);
    const now = new Date().toISOString();
    const record: ExperimentRecord = {
      id: `exp-${randomBytes(5).toString('hex')}`,
      name: settings.name ?? null,
      phase: settings.phase,
      settings,
      status: 'running',
      currentModel: settings.initialModel ?? null,
      publishedRounds: 0,
      consecutiveFailures: 0,
      reason: null,
      createdAt: now,
      updatedAt: now,
    };
    this.repo.insertExperiment(record);
    this.audit.record('admin', 'experiment.created', { experiment: record.id, settings });
    this.sessions.adminEmit('experiment', { experiment: record.id, status: 'running' });
    setImmediate(() => this.scheduler.tick());
    return record;
  }

  /** Training experiments (evaluations are listed by `/api/evaluations`). */
  list(): ExperimentRecord[] {
    return this.repo.listExperiments().filter((e) => !e.settings.evaluation);
  }

  get(id: string): ExperimentView {
    const exp = this.repo.findExperiment(id);
    if (!exp) throw new CoordinatorError(`no experiment ${id}`, 'not_found', 404);
    return { ...exp, rounds: this.repo.listRounds(id).map((r) => ({ ...r, results: this.repo.results(id, r.round) })) };
  }

  /** No new rounds start; a round in progress finishes. */
  pause(id: string): ExperimentRecord {
    const exp = this.get(id);
    if (exp.status !== 'running') throw new CoordinatorError(`experiment ${id} is ${exp.status}, not running`, 'invalid_state', 409);
    this.repo.updateExperiment(id, { status: 'paused' });
    this.audit.record('admin', 'experiment.paused', { experiment: id });
    this.sessions.adminEmit('experiment', { experiment: id, status: 'paused' });
    return this.repo.findExperiment(id)!;
  }

  resume(id: string): ExperimentRecord {
    const exp = this.get(id);
    if (exp.status !== 'paused') throw new CoordinatorError(`experiment ${id} is ${exp.status}, not paused`, 'invalid_state', 409);
    this.repo.updateExperiment(id, { status: 'running' });
    this.audit.record('admin', 'experiment.resumed', { experiment: id });
    this.sessions.adminEmit('experiment', { experiment: id, status: 'running' });
    setImmediate(() => this.scheduler.tick());
    return this.repo.findExperiment(id)!;
  }

  abort(id: string, reason = 'aborted by admin'): ExperimentRecord {
    const exp = this.get(id);
    if (exp.status !== 'running' && exp.status !== 'paused') throw new CoordinatorError(`experiment ${id} is already ${exp.status}`, 'invalid_state', 409);
    this.rounds.abort(id, reason);
    this.audit.record('admin', 'experiment.aborted', { experiment: id, reason });
    return this.repo.findExperiment(id)!;
  }
}
