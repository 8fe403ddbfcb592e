import type { ExperimentSettings } from '@fedct/protocol';
import { FedAvgStrategy, FedProxStrategy } from './fedavg.strategy';
import { FedOptStrategy } from './fedopt.strategy';
import { RobustStrategy } from './robust.strategy';
import type { Strategy } from './strategy';

export * from './strategy';
export { FedAvgStrategy, FedProxStrategy } from './fedavg.strategy';
export { FedOptStrategy } from './fedopt.strategy';
export { RobustStrategy, median, trimmedMean, ROBUST_BLOCK } from './robust.strategy';

/** The strategy an experiment's settings name, with their options (defaults as in Flower). */
export function createStrategy(settings: Pick<ExperimentSettings, 'strategy' | 'strategyOptions'>): Strategy {
  const o = settings.strategyOptions;
  switch (settings.strategy) {
    case 'fedavg':
      return new FedAvgStrategy();
    case 'fedprox':
      return new FedProxStrategy(o.proximalMu ?? 0.01);
    case 'fedadam':
    case 'fedyogi':
      return new FedOptStrategy(settings.strategy, {
        serverLearningRate: o.serverLearningRate ?? 0.1,
        beta1: o.beta1 ?? 0.9,
        beta2: o.beta2 ?? 0.99,
        tau: o.tau ?? 1e-9,
      });
    case 'trimmed-mean':
      return new RobustStrategy('trimmed-mean', o.trimFraction ?? 0.1);
    case 'median':
      return new RobustStrategy('median');
  }
}
