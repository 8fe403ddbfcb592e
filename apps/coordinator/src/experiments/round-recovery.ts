import { Inject, Injectable, Logger } from '@nestjs/common';
import { decodeModelBlob } from '@fedct/protocol';
import { fromBase64, open as openEnvelope, type Identity } from '@fedct/crypto';
import { WeightedSum } from '@fedct/strategies';
import { AuditService } from '../core/audit.service';
import { COORDINATOR_IDENTITY } from '../core/identity';
import { SitesService } from '../sites/sites.service';
import type { ActiveRound } from './active-round';
import { ExperimentsRepository, type RoundRecord } from './experiments.repository';
import { RoundSpool } from './round-spool';
import { RoundsService } from './rounds.service';

/**
 * After a restart: every unfinished round is rebuilt from SQLite and its spool folder and handed back
 * to the state machine. Streaming rounds load the checkpointed sum and open the envelopes after it
 * again; robust rounds find their spooled weights. A round whose files do not agree with the database,
 * or a secure-aggregation round (its stage state is in memory only), fails and runs again.
 */
@Injectable()
export class RoundRecovery {
  private readonly logger = new Logger(RoundRecovery.name);

  constructor(
    @Inject(ExperimentsRepository) private readonly repo: ExperimentsRepository,
    @Inject(RoundsService) private readonly rounds: RoundsService,
    @Inject(RoundSpool) private readonly spool: RoundSpool,
    @Inject(SitesService) private readonly sites: SitesService,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(COORDINATOR_IDENTITY) private readonly identity: Identity,
  ) {}

  recover(): void {
    for (const record of this.repo.unfinishedRounds()) {
      const exp = this.repo.findExperiment(record.experimentId);
      if (!exp || (exp.status !== 'running' && exp.status !== 'paused')) {
        this.failed(record, 'experiment no longer running at restart');
        continue;
      }
      if (exp.settings.secureAgg) {
        this.failed(record, 'secure aggregation rounds cannot resume after a restart', 'secure aggregation round interrupted by a restart');
        continue;
      }
      const active = this.rounds.materialise(exp, record);
      const results = this.repo.results(exp.id, record.round);
      if (active.strategy.streaming) {
        const problem = this.restoreCheckpoint(active, new Set(results.filter((r) => r.status === 'accepted').map((r) => r.siteId)));
        if (problem) {
          this.failed(record, `cannot resume: ${problem}`, `round checkpoint unusable after a restart: ${problem}`);
          this.spool.removeRound(active.dir, []);
          continue;
        }
      }
      let refolded = 0;
      for (const r of results) {
        // An evaluation's accepted results are its stored counts: nothing to fold again.
        if (r.status !== 'accepted' || exp.settings.evaluation) continue;
        if (active.folded.includes(r.siteId)) {
          // Already in the checkpointed sum (a crash may have left its envelope behind).
          this.spool.removeSealed(active.dir, r.siteId);
          continue;
        }
        const present = active.strategy.streaming ? this.refold(active, r.siteId, r.sampleCount ?? 1) : this.spool.hasWeights(active.dir, r.siteId);
        if (!present) {
          this.repo.setResult(exp.id, record.round, r.siteId, 'dropped', { reason: 'spooled update lost in a crash' });
          continue;
        }
        refolded++;
      }
      this.rounds.start(active, true);
      if (record.state === 'open') this.repo.updateRound(exp.id, record.round, { state: 'training' });
      this.audit.record('system', 'round.resumed', { experiment: exp.id, round: record.round, state: record.state, refolded, fromCheckpoint: active.checkpointed });
      this.logger.log(`resumed experiment ${exp.id} round ${record.round} (${record.state}, ${active.checkpointed} accepted updates from the checkpoint, ${refolded} re-folded)`);
      if (record.state === 'aggregating') setImmediate(() => this.rounds.close(active, 'resumed after a restart during aggregation'));
    }
  }

  private failed(record: RoundRecord, reason: string, auditReason?: string): void {
    this.repo.updateRound(record.experimentId, record.round, { state: 'failed', closedAt: new Date().toISOString(), reason });
    if (auditReason) this.audit.record('system', 'round.failed', { experiment: record.experimentId, round: record.round, reason: auditReason });
  }

  /**
   * Loads the checkpoint (if any) into `active`; returns why it cannot be used: unreadable, or naming a
   * site the database has not accepted (a power cut lost the database's last transactions but not the
   * file).
   */
  private restoreCheckpoint(active: ActiveRound, accepted: ReadonlySet<string>): string | null {
    const checkpoint = this.spool.readCheckpoint(active.dir);
    if (checkpoint === null) return null;
    if ('problem' in checkpoint) return checkpoint.problem;
    const missing = checkpoint.sites.find((site) => !accepted.has(site));
    if (missing) return `the checkpoint holds an update from ${missing} that the database has not accepted`;
    active.sum = checkpoint.sum;
    active.folded = checkpoint.sites;
    active.checkpointed = checkpoint.sites.length;
    return null;
  }

  /** Opens a spooled, already-accepted envelope again and folds it; false if it is gone or no longer opens. */
  private refold(active: ActiveRound, siteId: string, sampleCount: number): boolean {
    const sealed = this.spool.readSealed(active.dir, siteId);
    const site = this.sites.find(siteId);
    if (!sealed || !site) return false;
    const opened = openEnvelope(sealed, fromBase64(site.signingPublicKey), this.identity.box.secretKey);
    if (!opened) return false;
    const weights = decodeModelBlob(opened.payload).weights;
    active.sum ??= new WeightedSum(weights.length);
    active.sum.fold(weights, sampleCount);
    active.folded.push(siteId);
    return true;
  }
}
