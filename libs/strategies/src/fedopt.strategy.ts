import { BaseStrategy, type AggregateInput, type AggregateResult, type StrategyState } from './strategy';

export interface FedOptOptions {
  /** Server learning rate η (Flower default 0.1). */
  serverLearningRate: number;
  beta1: number;
  beta2: number;
  /** Adaptivity τ (Flower default 1e-9). */
  tau: number;
}

/**
 * FedAdam / FedYogi (Reddi et al., "Adaptive Federated Optimization", ICLR 2021). With Δ = mean − w:
 * m ← β1·m + (1 − β1)·Δ;  Adam: v ← β2·v + (1 − β2)·Δ²;  Yogi: v ← v − (1 − β2)·Δ²·sign(v − Δ²);
 * w ← w + η·m / (√v + τ). `m` and `v` start at 0 and are kept in the strategy state.
 */
export class FedOptStrategy extends BaseStrategy {
  readonly streaming = true;

  constructor(
    readonly name: 'fedadam' | 'fedyogi',
    private readonly options: FedOptOptions,
  ) {
    super();
  }

  aggregate(input: AggregateInput, state: StrategyState): AggregateResult {
    if (!input.sum || input.sum.count === 0) return { kind: 'keep', reason: 'no accepted updates' };
    const mean = input.sum.mean();
    // Round 1 without an initial model has no base to take a step from: the mean is the model.
    if (!input.base) return { kind: 'model', weights: mean };
    const { serverLearningRate: eta, beta1, beta2, tau } = this.options;
    const n = mean.length;
    const m = state.get('m') ?? new Float32Array(n);
    const v = state.get('v') ?? new Float32Array(n);
    const out = new Float32Array(n);
    const base = input.base;
    for (let i = 0; i < n; i++) {
      const delta = mean[i]! - base[i]!;
      const d2 = delta * delta;
      const mi = beta1 * m[i]! + (1 - beta1) * delta;
      let vi: number;
      if (this.name === 'fedadam') vi = beta2 * v[i]! + (1 - beta2) * d2;
      else vi = v[i]! - (1 - beta2) * d2 * Math.sign(v[i]! - d2);
      m[i] = mi;
      v[i] = vi;
      out[i] = base[i]! + (eta * mi) / (Math.sqrt(vi) + tau);
    }
    state.set('m', m);
    state.set('v', v);
    return { kind: 'model', weights: out };
  }
}
