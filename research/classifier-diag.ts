/**
 * `node scripts/run-ts.js research/classifier-diag.ts --cache /tmp/fed-sim-….json [options]`: pooled
 * central training of the 3-D CNN on infection volumes cached by `research/fed-sim.ts`, one epoch per
 * call. After each epoch it prints the training loss, how many hidden dense units fire on 24 training
 * studies (dead ReLUs show here), and the external test set's scores with the moving BatchNorm
 * statistics (as inference runs); with --bn 1 also with the test set's own batch statistics.
 * Options: --lr, --batch, --epochs, --seed, --workers, --bn 1, --leaky SLOPE, --dropout, --dense,
 * --filters '[8,16,32,64]', --standardise 1 (each volume to mean 0, std 1), --recal 1 (recalibrate the
 * BatchNorm statistics after each epoch), --lrdecay cos (cosine learning rate down to a tenth).
 * `--cache X.meta.json` reads metadata plus `X.f32` (float32, channels last when a volume says
 * `channels`), for caches too large for one JSON string. A tuning aid, not part of the product;
 * docs/research/demo-tuning-2026-11-27.md "Fourth session" and "Fifth session" list what it showed.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { evaluateClassifier, initBackend, modelFromBlob, trainClassifier, type Cnn3dConfig, type LabelledVolume } from '@fedct/pipeline';
import { CLASS_NAMES, scheduledLearningRate, type ModelBlob } from '@fedct/protocol';
import { exitWithUsageError, parseArgs } from './args';
import { standardise } from './tuning';

const COMMAND = {
  usage: 'node scripts/run-ts.js research/classifier-diag.ts --cache /tmp/fed-sim-….json [options]',
  options: {
    cache: { type: 'string', help: 'infection volumes cached by research/fed-sim.ts (X.json, or X.meta.json beside X.f32); required' },
    lr: { type: 'number', default: 1e-3, help: 'learning rate' },
    lrdecay: { type: 'string', default: '', help: "'cos': the coordinator's cosine schedule, one epoch per round" },
    batch: { type: 'number', default: 4, help: 'batch size' },
    epochs: { type: 'number', default: 8, help: 'epochs, one trainClassifier call each' },
    seed: { type: 'number', default: 1, help: 'initial weights' },
    workers: { type: 'number', default: 1, help: 'training threads' },
    bn: { type: 'flag', default: false, help: 'BatchNorm after the convolutions' },
    leaky: { type: 'number', default: 0, help: 'leaky ReLU slope (0: ReLU)' },
    dropout: { type: 'number', default: 0.3, help: 'dropout before the output layer' },
    dense: { type: 'number', default: 32, help: 'hidden dense units' },
    filters: { type: 'string', default: '[8,16,32,64]', help: 'filters per stage, JSON' },
    standardise: { type: 'flag', default: false, help: 'each volume to mean 0, std 1' },
    recal: { type: 'flag', default: false, help: 'recalibrate the BatchNorm statistics after each epoch' },
  },
} as const;

interface Cached { split: string; label: number; data: number[]; shape: [number, number, number]; channels?: number }
type Volume = LabelledVolume & { split: string; channels?: number };

/** Dense units that fire (output > 0) on at least one of `volumes`. */
function firingUnits(weights: ModelBlob, volumes: LabelledVolume[]): number {
  const model = modelFromBlob(weights);
  try {
    const layer = model.layers.find((l) => l.name === 'dense_act') ?? model.getLayer('dense');
    const probe = tfl.model({ inputs: model.inputs, outputs: layer.output as tfl.SymbolicTensor });
    const fired = new Set<number>();
    for (let i = 0; i < volumes.length; i += 4) {
      const part = volumes.slice(i, i + 4);
      const rows = tf.tidy(() => {
        const x = tf.tensor5d(Float32Array.from(part.flatMap((v) => Array.from(v.data))), [part.length, ...part[0]!.shape, data0Channels(part[0]!)]);
        return (probe.predict(x) as tf.Tensor).arraySync() as number[][];
      });
      rows.forEach((row) => row.forEach((value, unit) => { if (value > 0) fired.add(unit); }));
    }
    return fired.size;
  } finally {
    model.dispose();
  }
}

/** Test accuracy with the test set's own batch statistics (BatchNorm in training mode, one batch). */
function batchStatisticsAccuracy(weights: ModelBlob, test: LabelledVolume[]): number {
  const model = modelFromBlob(weights);
  try {
    const probabilities = tf.tidy(() => {
      const x = tf.tensor5d(Float32Array.from(test.flatMap((v) => Array.from(v.data))), [test.length, ...test[0]!.shape, data0Channels(test[0]!)]);
      return (model.apply(x, { training: true }) as tf.Tensor).arraySync() as number[][];
    });
    return probabilities.filter((p, i) => p.indexOf(Math.max(...p)) === test[i]!.label).length / test.length;
  } finally {
    model.dispose();
  }
}

async function main(): Promise<void> {
  const { options: o } = parseArgs(COMMAND);
  const cache = o.cache;
  if (!cache) exitWithUsageError('--cache FILE is required (a /tmp/fed-sim-*.json written by research/fed-sim.ts)');
  await initBackend();
  let volumes: Volume[];
  if (cache.endsWith('.meta.json')) {
    // Metadata plus one little-endian float32 file (`CACHE.f32`): for caches too large for one JSON string.
    const meta = JSON.parse(readFileSync(cache, 'utf8')) as Omit<Cached, 'data'>[];
    const all = readFileSync(cache.replace(/\.meta\.json$/, '.f32'));
    const floats = new Float32Array(all.buffer, all.byteOffset, all.byteLength / 4);
    let offset = 0;
    volumes = meta.map((v) => {
      const n = v.shape[0] * v.shape[1] * v.shape[2] * (v.channels ?? 1);
      offset += n;
      return { ...v, data: floats.slice(offset - n, offset) };
    });
  } else {
    volumes = (JSON.parse(readFileSync(cache, 'utf8')) as Cached[]).map((v) => ({ ...v, data: Float32Array.from(v.data) }));
  }
  const channels = volumes[0]?.channels ?? 1;
  if (o.standardise) for (const v of volumes) standardise(v.data);
  const train = volumes.filter((v) => v.split === 'train');
  const test = volumes.filter((v) => v.split === 'test');
  const config: Cnn3dConfig = {
    inputShape: train[0]!.shape,
    filters: JSON.parse(o.filters) as number[],
    denseUnits: o.dense,
    dropout: o.dropout,
    classes: CLASS_NAMES.length,
    inputChannels: channels,
    ...(o.bn ? { batchNorm: true } : {}),
    ...(o.leaky > 0 ? { leakyRelu: o.leaky } : {}),
  };
  const epochs = o.epochs;
  // --lrdecay cos: the coordinator's cosine schedule, one epoch per round.
  const learningRate = (epoch: number): number =>
    scheduledLearningRate(o.lr, o.lrdecay === 'cos' ? 'cosine' : 'constant', epoch, epochs);
  const started = Date.now();
  let weights: ModelBlob | null = null;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const result = await trainClassifier({
      config, initialWeights: weights, initSeed: o.seed, data: train, epochs: 1, batchSize: o.batch,
      learningRate: learningRate(epoch), seed: epoch, flipAugment: true, workers: o.workers,
      recalibrate: o.recal,
    });
    weights = result.weights;
    const m = (await evaluateClassifier({ weights, data: test })).metrics;
    const batchStats = config.batchNorm ? ` (batch statistics: ${batchStatisticsAccuracy(weights, test).toFixed(3)})` : '';
    console.log(`epoch ${epoch}: loss ${result.metrics.loss?.toFixed(4)}, dense units firing ${firingUnits(weights, train.slice(0, 24))}/${config.denseUnits}, `
      + `test accuracy ${m.accuracy.toFixed(3)}${batchStats}, AUC Covid-19 ${m.aucCovid.toFixed(3)}, confusion ${JSON.stringify(m.confusion)}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

/** Channels of a volume whose data holds shape × channels values. */
function data0Channels(v: LabelledVolume): number {
  return v.data.length / (v.shape[0] * v.shape[1] * v.shape[2]);
}
