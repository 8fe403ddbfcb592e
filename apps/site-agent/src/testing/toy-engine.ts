import type { ModelBlob } from '@fedct/protocol';
import type { BackendName, LabelledVolume, SliceSet, TrainingEngine, TrainOutcome, TrainRequest } from '../training/training-engine';

/**
 * A tiny, exactly predictable {@link TrainingEngine} for protocol tests: the "model" is one weight
 * vector and "training" moves every weight toward the mean of the local data,
 * `w ← w + learningRate · (mean − w)` once per epoch. It exercises everything around training
 * (data loading, sealing, chunked upload, DP) in milliseconds; the real networks run through
 * {@link createPipelineEngine}.
 */
export class ToyEngine implements TrainingEngine {
  readonly profileName = 'toy';
  readonly calls: { phase: 'denoiser' | 'classifier' | 'calibrate'; samples: number }[] = [];

  constructor(readonly size: number) {}

  async backend(): Promise<{ name: BackendName; gpu: boolean; threads: number }> {
    return { name: 'cpu', gpu: false, threads: 1 };
  }

  /**
   * The seeded initial model (same seed → same weights on every site); `config.size` (a task's
   * `modelConfig`) overrides the engine's own size, like network sizes do for the real engine.
   */
  init(seed: number, model = 'toy', config?: Record<string, unknown>): ModelBlob {
    const size = typeof config?.size === 'number' ? config.size : this.size;
    const weights = new Float32Array(size);
    for (let i = 0; i < weights.length; i++) weights[i] = Math.sin(seed + i) * 0.01;
    return { manifest: { model, config: { size }, tensors: [{ name: 'w', shape: [size] }] }, weights };
  }

  async trainDenoiser(request: TrainRequest & { slices: SliceSet }): Promise<TrainOutcome> {
    this.calls.push({ phase: 'denoiser', samples: request.slices.count });
    return this.fit(request, mean(request.slices.data), request.slices.count, 'bcdunet');
  }

  async evaluateDenoiser(request: { weights: ModelBlob; slices: SliceSet }): Promise<Record<string, number>> {
    const m = mean(request.slices.data);
    return { mse: mean(request.weights.weights.map((w) => (w - m) ** 2)) };
  }

  async extractInfection(request: { volume: Float32Array; shape: [number, number, number] }): Promise<{ data: Float32Array; shape: [number, number, number] }> {
    const [z, y, x] = request.shape;
    const out = new Float32Array(2 * 4 * 4);
    for (let k = 0; k < 2; k++)
      for (let j = 0; j < 4; j++)
        for (let i = 0; i < 4; i++) {
          const v = request.volume[Math.floor((k * z) / 2) * y * x + Math.floor((j * y) / 4) * x + Math.floor((i * x) / 4)] ?? 0;
          out[k * 16 + j * 4 + i] = v - 0.5;
        }
    return { data: out, shape: [2, 4, 4] };
  }

  async trainClassifier(request: TrainRequest & { volumes: LabelledVolume[] }): Promise<TrainOutcome> {
    this.calls.push({ phase: 'classifier', samples: request.volumes.length });
    const all = request.volumes.reduce((s, v) => s + mean(v.data) + v.label, 0) / Math.max(1, request.volumes.length);
    return this.fit(request, all, request.volumes.length, 'cnn3d');
  }

  async evaluateClassifier(request: { volumes: LabelledVolume[] }): Promise<Record<string, number>> {
    return { accuracy: request.volumes.length > 0 ? 1 / 3 : 0 };
  }

  /** Stand-in: records the call and returns the weights as they are. */
  async calibrateClassifier(request: { weights: ModelBlob; volumes: unknown[] }): Promise<ModelBlob> {
    this.calls.push({ phase: 'calibrate', samples: request.volumes.length });
    return request.weights;
  }

  async classify(request: { weights: ModelBlob; volume: Float32Array }): Promise<[number, number, number]> {
    const m = mean(request.volume);
    const logits = [0, 1, 2].map((c) => (request.weights.weights[c] ?? 0) * (c + 1) + m * c);
    const max = Math.max(...logits);
    const e = logits.map((l) => Math.exp(l - max));
    const sum = e.reduce((a, b) => a + b, 0);
    return [(e[0] ?? 0) / sum, (e[1] ?? 0) / sum, (e[2] ?? 0) / sum];
  }

  private fit(request: TrainRequest, target: number, samples: number, model: string): TrainOutcome {
    const initial = request.base ?? this.init(request.initSeed, model, request.modelConfig);
    const weights = Float32Array.from(initial.weights);
    for (let e = 0; e < request.hyper.localEpochs; e++) for (let i = 0; i < weights.length; i++) weights[i] = (weights[i] ?? 0) + request.hyper.learningRate * (target - (weights[i] ?? 0));
    return { weights: { manifest: initial.manifest, weights }, initial, sampleCount: samples, metrics: { loss: Math.abs(target - (weights[0] ?? 0)) } };
  }
}

function mean(data: Float32Array): number {
  let s = 0;
  for (const v of data) s += v;
  return data.length ? s / data.length : 0;
}
