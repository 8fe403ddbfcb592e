import {
  advertiseKeys,
  consistencyCheck,
  maskedInput,
  shareKeys,
  unmask,
  type ConsistencyCheckRequest,
  type MaskedInputRequest,
  type ShareKeysRequest,
  type SiteSecAggState,
  type UnmaskRequest,
} from '@fedct/crypto';
import type { SecAggMessage, Task } from '@fedct/protocol';
import { CoordinatorLinkError, oneLine } from '../util/errors';
import type { Logger } from '../util/logger';
import { call, type SiteSocket } from './socket';

/**
 * The site's side of one secure-aggregation round (@fedct/crypto SecAgg+ stages over the protocol's
 * `secagg:*` events). The coordinator only ever receives this site's update masked: it learns the sum
 * over the surviving sites, never one site's delta. A stage that does not fit (wrong round, bad
 * signature, inconsistent sets) leaves the round: the coordinator then counts this site as dropped.
 */
export class SecAggSession {
  private state: SiteSecAggState;
  private failed: string | null = null;
  private maskedRequest: MaskedInputRequest | null = null;
  private waiting: ((request: MaskedInputRequest) => void) | null = null;

  private constructor(
    private readonly socket: SiteSocket,
    readonly task: Task,
    private readonly signingSecretKey: Uint8Array,
    private readonly logger: Logger,
    state: SiteSecAggState,
  ) {
    this.state = state;
  }

  /** Fresh round keys for this site (stage 0's state); {@link advertise} sends them. */
  static create(socket: SiteSocket, task: Task, siteId: string, signingSecretKey: Uint8Array, logger: Logger): SecAggSession {
    if (!task.secAgg) throw new CoordinatorLinkError('task has no secure-aggregation parameters', 'bad_task');
    const { state } = advertiseKeys(task.secAgg, siteId, signingSecretKey);
    return new SecAggSession(socket, task, signingSecretKey, logger, state);
  }

  /**
   * Stage 0: advertises the round keys (signed with the site key). The session must already be
   * reachable for stage requests: the coordinator may ask for shares before this call returns.
   */
  async advertise(): Promise<void> {
    await call(this.socket, 'secagg:advertise-keys', this.state.advertisement as unknown as SecAggMessage);
    this.logger.info('secure aggregation: keys advertised', { experiment: this.task.experiment, round: this.task.round, neighbours: this.task.secAgg?.neighbours ?? 0 });
  }

  /** Whether a stage request belongs to this session's round. */
  matches(request: Record<string, unknown>): boolean {
    return request.experiment === this.task.experiment && request.round === this.task.round;
  }

  /** Stage 1: encrypted Shamir shares of this round's secrets for each neighbour. */
  async onShareKeys(request: Record<string, unknown>): Promise<void> {
    await this.step('share-keys', () => {
      const { state, message } = shareKeys(this.state, request as unknown as ShareKeysRequest);
      this.state = state;
      return call(this.socket, 'secagg:share-keys', message as unknown as SecAggMessage);
    });
  }

  /** Stage 2 request: kept until the local update is ready ({@link mask}). */
  onMaskedInput(request: Record<string, unknown>): void {
    this.maskedRequest = request as unknown as MaskedInputRequest;
    this.waiting?.(this.maskedRequest);
  }

  /**
   * Stage 2: masks the sample-weighted delta (new weights − base) once the coordinator asked for it;
   * returns the masked vector, the payload of the sealed update. Rejects if the round was left.
   */
  async mask(delta: Float32Array, sampleCount: number, deadline: number): Promise<Uint8Array> {
    const request =
      this.maskedRequest ??
      (await new Promise<MaskedInputRequest>((resolve, reject) => {
        const timer = setTimeout(() => reject(new CoordinatorLinkError('the coordinator did not ask for the masked update before the deadline', 'secagg_timeout')), Math.max(0, deadline - Date.now()));
        timer.unref();
        this.waiting = (r) => {
          clearTimeout(timer);
          resolve(r);
        };
      }));
    if (this.failed) throw new CoordinatorLinkError(`left the secure-aggregation round: ${this.failed}`, 'secagg_failed');
    const { state, maskedVector } = maskedInput(this.state, request, delta, sampleCount);
    this.state = state;
    return maskedVector;
  }

  /** Stage 3: signs the survivor list. */
  async onConsistencyCheck(request: Record<string, unknown>): Promise<void> {
    await this.step('consistency-check', () => {
      const { state, message } = consistencyCheck(this.state, request as unknown as ConsistencyCheckRequest, this.signingSecretKey);
      this.state = state;
      return call(this.socket, 'secagg:consistency-check', message as unknown as SecAggMessage);
    });
  }

  /** Stage 4: reveals the shares that let the coordinator remove the masks (self-mask shares of survivors, key shares of dropouts). */
  async onUnmask(request: Record<string, unknown>): Promise<void> {
    await this.step('unmask', () => {
      const { state, message } = unmask(this.state, request as unknown as UnmaskRequest);
      this.state = state;
      return call(this.socket, 'secagg:unmask', message as unknown as SecAggMessage);
    });
    if (!this.failed) this.logger.info('secure aggregation: unmasking shares sent', { experiment: this.task.experiment, round: this.task.round });
  }

  private async step(stage: string, run: () => Promise<unknown>): Promise<void> {
    if (this.failed) return;
    try {
      await run();
    } catch (error) {
      this.failed = oneLine(error);
      this.logger.warn('secure aggregation: leaving the round', { experiment: this.task.experiment, round: this.task.round, stage, reason: this.failed });
    }
  }
}
