import { randomInt } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { createStrategy } from '@fedct/strategies';
import { AuditService } from '../core/audit.service';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../core/coordinator.config';
import { SessionRegistry } from '../core/sessions.service';
import { SitesService } from '../sites/sites.service';
import { type ExperimentRecord, ExperimentsRepository, type RoundRecord } from './experiments.repository';
import { RoundEvents } from './round-events';
import { RoundRecovery } from './round-recovery';
import { RoundsService } from './rounds.service';
import { SecAggDriver, secAggParams } from './secagg.driver';

/**
 * When rounds happen: at start-up it has unfinished rounds recovered, then every
 * `schedulerIntervalMs` (and when a site comes online or a round ends) it closes rounds past their
 * deadline, advances due secure-aggregation stages, completes experiments that have their rounds, and
 * opens the next round where enough sites are online (participants chosen by the strategy), failing
 * an experiment that waited `waitForSitesSeconds` in vain.
 */
@Injectable()
export class RoundScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(RoundScheduler.name);
  private readonly waitingSince = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(COORDINATOR_CONFIG) private readonly config: CoordinatorConfig,
    @Inject(ExperimentsRepository) private readonly repo: ExperimentsRepository,
    @Inject(RoundsService) private readonly rounds: RoundsService,
    @Inject(RoundRecovery) private readonly recovery: RoundRecovery,
    @Inject(RoundEvents) events: RoundEvents,
    @Inject(SitesService) private readonly sites: SitesService,
    @Inject(SessionRegistry) private readonly sessions: SessionRegistry,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {
    events.onEnded((ended) => {
      if (!ended.aborted) setImmediate(() => this.tick());
    });
  }

  onApplicationBootstrap(): void {
    this.recovery.recover();
    this.timer = setInterval(() => this.tick(), this.config.schedulerIntervalMs);
    this.sessions.onPresence((_site, online) => {
      if (online) setImmediate(() => this.tick());
    });
    this.sessions.onRevoked((siteId, reason) => {
      for (const active of this.rounds.activeRounds()) {
        if (!active.closing && !active.secagg && active.participants.includes(siteId)) this.rounds.markSite(active, siteId, 'dropped', `site revoked: ${reason}`);
      }
    });
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One scheduler step (see the class comment). */
  tick(): void {
    for (const exp of this.repo.listExperiments(['running', 'paused'])) {
      try {
        if (this.rounds.isActive(exp.id)) this.rounds.poll(exp.id, Date.now());
        else if (exp.status === 'running') this.maybeStart(exp);
      } catch (error) {
        this.logger.error(`experiment ${exp.id}: ${(error as Error).stack ?? String(error)}`);
      }
    }
  }

  private maybeStart(exp: ExperimentRecord): void {
    const s = exp.settings;
    if (exp.publishedRounds >= s.rounds) {
      this.repo.updateExperiment(exp.id, { status: 'completed' });
      this.audit.record('system', 'experiment.completed', { experiment: exp.id, model: exp.currentModel });
      this.sessions.adminEmit('experiment', { experiment: exp.id, status: 'completed' });
      this.logger.log(`experiment ${exp.id} completed with ${exp.currentModel ?? 'no model'}`);
      return;
    }
    const allowed = s.sites ? new Set(s.sites) : null;
    if (s.evaluation) {
      // An evaluation asks its sites at once, online or not: an offline one gets its task when it
      // reconnects (task.current), or is reported missing after the deadline.
      const chosen = (s.sites ?? this.sites.list().map((site) => site.id)).filter((id) => {
        const site = this.sites.find(id);
        return site !== null && site.revokedAt === null;
      });
      if (chosen.length === 0) {
        this.repo.updateExperiment(exp.id, { status: 'failed', reason: 'no enrolled, not revoked site to evaluate at' });
        this.sessions.adminEmit('experiment', { experiment: exp.id, status: 'failed' });
        return;
      }
      this.open(exp, [...chosen].sort());
      return;
    }
    const online = this.sessions.online().filter((id) => {
      const site = this.sites.find(id);
      return site !== null && site.revokedAt === null && (!allowed || allowed.has(id));
    });
    if (online.length < s.minSites) {
      const since = this.waitingSince.get(exp.id) ?? Date.now();
      this.waitingSince.set(exp.id, since);
      if (Date.now() - since > s.waitForSitesSeconds * 1000) {
        const reason = `only ${online.length} of ${s.minSites} required sites online for ${s.waitForSitesSeconds} s`;
        this.repo.updateExperiment(exp.id, { status: 'failed', reason });
        this.audit.record('system', 'experiment.failed', { experiment: exp.id, reason });
        this.sessions.adminEmit('experiment', { experiment: exp.id, status: 'failed' });
      }
      return;
    }
    this.waitingSince.delete(exp.id);
    this.open(exp, createStrategy(s).selectParticipants(online, { minSites: s.minSites, fractionFit: s.fractionFit, randomInt }));
  }

  /** Records the next round with these participants and hands it to the state machine. */
  private open(exp: ExperimentRecord, participants: string[]): void {
    const s = exp.settings;
    const round = (this.repo.lastRound(exp.id)?.round ?? 0) + 1;
    const now = new Date();
    const record: RoundRecord = {
      experimentId: exp.id, round, state: 'open', baseModel: exp.currentModel, participants,
      startedAt: now.toISOString(), deadline: new Date(now.getTime() + s.roundDeadlineSeconds * 1000).toISOString(),
      closedAt: null, modelVersion: null, reason: null, metrics: {},
    };
    this.repo.transaction(() => this.repo.insertRound(record));
    this.audit.record('system', 'round.opened', { experiment: exp.id, round, participants, baseModel: exp.currentModel });
    const active = this.rounds.materialise(exp, record);
    if (s.secureAgg && active.base) {
      const keys: Record<string, string> = {};
      for (const id of participants) keys[id] = this.sites.get(id).signingPublicKey;
      const params = secAggParams(exp.id, round, keys, active.base.weights.length, s.secAggClipRange, s.secAggMaxTotalWeight);
      active.secagg = new SecAggDriver(params, s.secAggStageSeconds * 1000, active.deadline, s.minSites, Date.now());
    }
    this.rounds.start(active, false);
  }
}
