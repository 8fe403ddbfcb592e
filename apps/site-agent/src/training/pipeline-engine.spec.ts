import { describe, expect, it } from 'vitest';
import { silentLogger } from '../util/logger';
import { PipelineEngine, type NetworkConfigs } from './pipeline-engine';

/** The engine's own sizes (what a site's profile would say). */
const OWN: NetworkConfigs = {
  bcdunet: { size: 16, base: 2 },
  cnn3d: { inputShape: [4, 16, 16], filters: [2], denseUnits: 2, dropout: 0, classes: 3 },
};
const HYPER = { localEpochs: 1, batchSize: 2, learningRate: 1e-3, dp: { required: false }, secureAgg: false };

function slices(size: number, count: number): { data: Float32Array; count: number; height: number; width: number } {
  return { data: new Float32Array(count * size * size).map((_, i) => (i % 7) / 7), count, height: size, width: size };
}

describe(PipelineEngine.name, () => {
  it('builds round 1 from the task\'s modelConfig when there is no base model, and from its own sizes otherwise', async () => {
    const engine = new PipelineEngine({ profile: 'unused', backend: 'cpu', logger: silentLogger, networks: OWN });
    try {
      const fromTask = await engine.trainDenoiser({ base: null, initSeed: 1, modelConfig: { size: 16, base: 4 }, hyper: HYPER, seed: 1, slices: slices(16, 2) });
      expect(fromTask.weights.manifest.config).toEqual({ size: 16, base: 4 });
      expect(fromTask.initial.manifest.config).toEqual({ size: 16, base: 4 });
      const own = await engine.trainDenoiser({ base: null, initSeed: 1, hyper: HYPER, seed: 1, slices: slices(16, 2) });
      expect(own.weights.manifest.config).toEqual(OWN.bcdunet);
      // Different widths, different tensors: the coordinator would reject one of them without modelConfig.
      expect(own.weights.manifest.tensors).not.toEqual(fromTask.weights.manifest.tensors);
      // The same modelConfig and seed on another site gives the same starting weights.
      const again = await engine.trainDenoiser({ base: null, initSeed: 1, modelConfig: { size: 16, base: 4 }, hyper: HYPER, seed: 2, slices: slices(16, 2) });
      expect(Array.from(again.initial.weights)).toEqual(Array.from(fromTask.initial.weights));
    } finally {
      engine.dispose();
    }
  });
});
