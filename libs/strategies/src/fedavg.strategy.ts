import type { HyperParameters } from '@fedct/protocol';
import { BaseStrategy, type AggregateInput, type AggregateResult } from './strategy';

/** FedAvg (McMahan et al. 2017): the sample-weighted mean of the sites' new weights. */
export class FedAvgStrategy extends BaseStrategy {
  readonly name: 'fedavg' | 'fedprox' = 'fedavg';
  readonly streaming = true;

  aggregate(input: AggregateInput): AggregateResult {
    if (!input.sum || input.sum.count === 0) return { kind: 'keep', reason: 'no accepted updates' };
    return { kind: 'model', weights: input.sum.mean() };
  }
}

/**
 * FedProx (Li et al. 2020): FedAvg aggregation; sites add (μ/2)‖w − w_global‖² to their local loss,
 * so μ travels in the task as `proximalMu`.
 */
export class FedProxStrategy extends FedAvgStrategy {
  override readonly name = 'fedprox' as const;

  constructor(private readonly mu: number) {
    super();
  }

  override configureRound(): Partial<HyperParameters> {
    return { proximalMu: this.mu };
  }
}
