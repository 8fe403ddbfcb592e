import { Inject, Injectable } from '@nestjs/common';
import { createExperimentSchema, summarizeEvaluation, sumCounts, type CreateEvaluation, type EvaluationView, type ExperimentSettings } from '@fedct/protocol';
import { AuditService } from '../core/audit.service';
import { CoordinatorError } from '../core/errors';
import { ExperimentsRepository, type ExperimentRecord } from '../experiments/experiments.repository';
import { ExperimentsService } from '../experiments/experiments.service';
import { ModelsService } from '../models/models.service';
import { SitesService } from '../sites/sites.service';

/**
 * Federated evaluation (`/api/evaluations`): an admin has a published classifier measured, with the
 * denoiser it was trained with, on one split at chosen sites. An evaluation is an experiment of one
 * round of its own kind (settings.evaluation): the round engine sends the tasks, waits until every
 * site answered or the deadline passed, resumes after a restart, and keeps each site's counts; this
 * service turns them into figures with intervals, per site and pooled.
 */
@Injectable()
export class EvaluationsService {
  constructor(
    @Inject(ExperimentsService) private readonly experiments: ExperimentsService,
    @Inject(ExperimentsRepository) private readonly repo: ExperimentsRepository,
    @Inject(ModelsService) private readonly models: ModelsService,
    @Inject(SitesService) private readonly sites: SitesService,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  create(request: CreateEvaluation & { split: 'val' | 'test'; deadlineSeconds: number }): EvaluationView {
    const classifier = this.models.get(request.classifierVersion);
    if (classifier.phase !== 'classifier') throw new CoordinatorError(`model ${classifier.version} is a ${classifier.phase ?? 'unphased'} model, not a classifier`, 'bad_message');
    const trainedWith = classifier.experiment ? this.repo.findExperiment(classifier.experiment)?.settings.denoiserModel : undefined;
    const denoiserVersion = request.denoiserVersion ?? trainedWith;
    if (!denoiserVersion) throw new CoordinatorError(`model ${classifier.version} was not trained by an experiment of this coordinator: name its denoiser (denoiserVersion)`, 'bad_message');
    const denoiser = this.models.get(denoiserVersion);
    if (denoiser.phase !== 'denoiser') throw new CoordinatorError(`model ${denoiser.version} is not a denoiser`, 'bad_message');
    for (const id of request.sites ?? []) {
      const site = this.sites.find(id);
      if (!site) throw new CoordinatorError(`no site ${id}`, 'not_found', 404);
      if (site.revokedAt) throw new CoordinatorError(`site ${id} is revoked`, 'bad_message');
    }
    const settings: ExperimentSettings = {
      ...createExperimentSchema.parse({
        name: request.name ?? `evaluation of ${classifier.version} on ${request.split}`,
        phase: 'classifier',
        rounds: 1,
        minSites: 1,
        roundDeadlineSeconds: request.deadlineSeconds,
        initialModel: classifier.version,
        denoiserModel: denoiser.version,
        maxRoundRetries: 0,
        ...(request.sites ? { sites: [...new Set(request.sites)] } : {}),
      }),
      evaluation: { split: request.split },
    };
    const record = this.experiments.create(settings);
    this.audit.record('admin', 'evaluation.created', { evaluation: record.id, classifier: classifier.version, denoiser: denoiser.version, split: request.split, sites: request.sites ?? 'all' });
    return this.get(record.id);
  }

  list(): EvaluationView[] {
    return this.repo.listExperiments().filter((e) => e.settings.evaluation).map((e) => this.view(e));
  }

  get(id: string): EvaluationView {
    const exp = this.repo.findExperiment(id);
    if (!exp?.settings.evaluation) throw new CoordinatorError(`no evaluation ${id}`, 'not_found', 404);
    return this.view(exp);
  }

  private view(exp: ExperimentRecord): EvaluationView {
    const s = exp.settings;
    const round = this.repo.lastRound(exp.id);
    const results = round ? this.repo.results(exp.id, round.round) : [];
    const counts = this.repo.evaluationResults(exp.id);
    const name = (id: string) => this.sites.find(id)?.name ?? id;
    const classifier = this.models.get(s.initialModel!);
    const denoiser = this.models.get(s.denoiserModel!);
    const sites = results.map((r) => {
      const c = counts.get(r.siteId);
      return { siteId: r.siteId, siteName: name(r.siteId), status: r.status, reason: r.reason, summary: c ? summarizeEvaluation(c) : null };
    });
    const answered = [...counts.values()];
    return {
      id: exp.id,
      name: exp.name,
      status: exp.status,
      classifier: { version: classifier.version, sha256: classifier.sha256 },
      denoiser: { version: denoiser.version, sha256: denoiser.sha256 },
      split: s.evaluation!.split,
      createdAt: exp.createdAt,
      deadline: round?.deadline ?? null,
      sites,
      pooled: answered.length > 0 ? summarizeEvaluation(sumCounts(answered)) : null,
      missing: sites.filter((x) => x.status !== 'accepted').map(({ siteId, siteName, status, reason }) => ({ siteId, siteName, status, reason })),
    };
  }
}
