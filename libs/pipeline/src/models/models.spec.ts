import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend';
import { createBcduNet } from './bcdunet';
import { classifierInputSize, cnn3dInputSize, createCnn3d } from './cnn3d';
import { forwardFlops } from './flops';
import { ModelError } from './models.errors';
import { getModelBlob, loadModelBlob, modelBlobSha256, saveModelBlob, setModelWeights } from './weights';

const PAPER_CNN = { inputShape: [50, 128, 128] as [number, number, number], filters: [8, 16, 32, 64, 128], denseUnits: 32, dropout: 0.3, classes: 3 };
const TINY_CNN = { inputShape: [10, 16, 16] as [number, number, number], filters: [2, 4, 4], denseUnits: 4, dropout: 0.3, classes: 3 };

describe('CovidCTNet models', () => {
  let dir = '';
  beforeAll(async () => {
    await initBackend('wasm');
    dir = await mkdtemp(join(tmpdir(), 'fedct-models-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('builds BCDU-Net D3 at the paper size with exactly 5,167,365 parameters and 10.2 GFLOP per slice', () => {
    const model = createBcduNet({ size: 128, base: 32 });
    expect(model.countParams()).toBe(5_167_365);
    const nonTrainable = model.nonTrainableWeights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
    expect(nonTrainable).toBe(448);
    expect(forwardFlops(model) / 1e9).toBeCloseTo(10.2, 1);
    expect(model.outputs[0]?.shape).toEqual([null, 128, 128, 1]);
    model.dispose();
  });

  it('builds the 3-D CNN at the paper size with exactly 920,715 parameters and 6.5 GFLOP per study', () => {
    const model = createCnn3d(PAPER_CNN);
    expect(model.countParams()).toBe(920_715);
    expect(forwardFlops(model) / 1e9).toBeCloseTo(6.5, 1);
    expect(model.outputs[0]?.shape).toEqual([null, 3]);
    model.dispose();
  });

  it('adds BatchNorm after every convolution and leaky ReLUs only when asked (parameters counted by hand)', () => {
    // Plain TINY_CNN: convs 56 + 110 + 220 + 436 + 436 + 436, dense 4·4+4, output 4·3+3 = 1,729.
    const plain = createCnn3d(TINY_CNN);
    expect(plain.countParams()).toBe(1729);
    // BatchNorm: the convs lose their biases (2+2+4+4+4+4 = 20) and gain 4 × 20 BatchNorm values,
    // of which the moving means and variances (2 × 20) are not trained.
    const bn = createCnn3d({ ...TINY_CNN, batchNorm: true, leakyRelu: 0.1 });
    expect(bn.countParams()).toBe(1729 - 20 + 80);
    const nonTrainable = bn.nonTrainableWeights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
    expect(nonTrainable).toBe(40);
    expect(bn.layers.filter((l) => l.name.endsWith('_bn'))).toHaveLength(6);
    expect(bn.getLayer('dense_act').getConfig().alpha).toBe(0.1);
    expect(bn.layers.some((l) => l.name.startsWith('dense_bn'))).toBe(false);
    // The activation after each convolution is max(z, 0.1 z) of its (normalised) input.
    const x = tf.randomNormal([2, ...TINY_CNN.inputShape, 1], 0, 1, 'float32', 3);
    const probe = tfl.model({ inputs: bn.inputs, outputs: [bn.getLayer('conv2_1_bn').output as tfl.SymbolicTensor, bn.getLayer('conv2_1_act').output as tfl.SymbolicTensor] });
    const [z, a] = (probe.predict(x) as tf.Tensor[]).map((t) => t.dataSync());
    expect(z!.some((v) => v < 0)).toBe(true);
    z!.forEach((v, i) => expect(a![i]).toBeCloseTo(v > 0 ? v : 0.1 * v, 6));
    const out = bn.predict(x) as tf.Tensor;
    expect(out.shape).toEqual([2, 3]);
    tf.dispose([x, out]);
    expect(() => createCnn3d({ ...TINY_CNN, leakyRelu: 1 })).toThrow(/leakyRelu/);
    plain.dispose();
    bn.dispose();
  });

  it('puts group normalisation after every convolution when asked (parameters counted by hand)', () => {
    // The convs lose their biases (20) and gain gamma and beta per channel (2 × 20), all trainable.
    const gn = createCnn3d({ ...TINY_CNN, groupNorm: 2, leakyRelu: 0.1 });
    expect(gn.countParams()).toBe(1729 - 20 + 40);
    expect(gn.nonTrainableWeights).toHaveLength(0);
    expect(gn.layers.filter((l) => l.name.endsWith('_gn'))).toHaveLength(6);
    gn.dispose();
    expect(() => createCnn3d({ ...TINY_CNN, groupNorm: 3 })).toThrow(/does not divide 2 filters/);
    expect(() => createCnn3d({ ...TINY_CNN, groupNorm: 2, batchNorm: true })).toThrow(/exclude each other/);
  });

  it('takes a second input channel only when asked (parameters counted by hand)', () => {
    // The first convolution gains 27 weights per filter (2 filters) for the second channel: 1,729 + 54.
    const two = createCnn3d({ ...TINY_CNN, inputChannels: 2 });
    expect(two.countParams()).toBe(1729 + 54);
    expect(two.inputs[0]!.shape).toEqual([null, ...TINY_CNN.inputShape, 2]);
    two.dispose();
    expect(() => createCnn3d({ ...TINY_CNN, inputChannels: 0 })).toThrow(/inputChannels/);
    expect(() => createCnn3d({ ...TINY_CNN, inputChannels: 1.5 })).toThrow(/inputChannels/);
  });

  it('rejects sizes it cannot build, naming the value', () => {
    expect(() => createBcduNet({ size: 100, base: 32 })).toThrow(ModelError);
    expect(() => createBcduNet({ size: 128, base: 3 })).toThrow(/3/);
    expect(() => createCnn3d({ ...TINY_CNN, inputShape: [4, 16, 16] })).toThrow(/too small/);
  });

  it('gives the same initial weights for the same seed and different ones for another seed', () => {
    const a = createCnn3d(TINY_CNN, { seed: 7 });
    const b = createCnn3d(TINY_CNN, { seed: 7 });
    const c = createCnn3d(TINY_CNN, { seed: 8 });
    const wa = getModelBlob(a, 'cnn3d', TINY_CNN).weights;
    expect(getModelBlob(b, 'cnn3d', TINY_CNN).weights).toEqual(wa);
    expect(getModelBlob(c, 'cnn3d', TINY_CNN).weights).not.toEqual(wa);
    [a, b, c].forEach((m) => m.dispose());
  });

  it('round-trips BCDU-Net weights (incl. BatchNorm statistics) through a blob file with its sha256', async () => {
    const cfg = { size: 16, base: 4 };
    const source = createBcduNet(cfg, { seed: 1 });
    const blob = getModelBlob(source, 'bcdunet', cfg);
    expect(blob.weights.length).toBe(source.countParams());
    expect(blob.manifest.tensors.map((t) => t.name)).toContain('up2_bn/moving_variance');
    const file = join(dir, 'bcdunet.fctm');
    const sha = await saveModelBlob(file, blob);
    expect(sha).toBe(modelBlobSha256(blob));
    const loaded = await loadModelBlob(file, sha);
    const target = createBcduNet(cfg, { seed: 2 });
    expect(getModelBlob(target, 'bcdunet', cfg).weights).not.toEqual(blob.weights);
    const before = tf.memory().numTensors;
    setModelWeights(target, loaded.blob, 'bcdunet');
    expect(tf.memory().numTensors).toBe(before);
    expect(getModelBlob(target, 'bcdunet', cfg).weights).toEqual(blob.weights);
    const x = tf.randomUniform([2, 16, 16, 1], 0, 1, 'float32', 3);
    const ya = source.predict(x) as tf.Tensor;
    const yb = target.predict(x) as tf.Tensor;
    expect(Array.from(await yb.data())).toEqual(Array.from(await ya.data()));
    tf.dispose([x, ya, yb]);
    source.dispose();
    target.dispose();
  });

  it('refuses weights of another kind, shape or hash', async () => {
    const cnn = createCnn3d(TINY_CNN);
    const other = createCnn3d({ ...TINY_CNN, denseUnits: 5 });
    const blob = getModelBlob(other, 'cnn3d', {});
    expect(() => setModelWeights(cnn, blob, 'cnn3d')).toThrow(/dense\/kernel/);
    expect(() => setModelWeights(cnn, getModelBlob(cnn, 'cnn3d', {}), 'bcdunet')).toThrow(ModelError);
    const file = join(dir, 'cnn.fctm');
    await saveModelBlob(file, blob);
    await expect(loadModelBlob(file, '0'.repeat(64))).rejects.toThrow(/sha256/);
    await writeFile(file, 'not a blob');
    await expect(loadModelBlob(file)).rejects.toThrow(ModelError);
    cnn.dispose();
    other.dispose();
  });

  it('leaks no tensors when predicting or reading weights', () => {
    const model = createCnn3d(TINY_CNN);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      tf.tidy(() => {
        model.predict(tf.zeros([1, 10, 16, 16, 1]));
      });
      getModelBlob(model, 'cnn3d', TINY_CNN);
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe(cnn3dInputSize.name, () => {
  it('reads the infection map size from a 3-D CNN configuration or a classifier blob, and nothing from other configurations', () => {
    expect(cnn3dInputSize({ inputShape: [16, 32, 32], filters: [8] })).toEqual({ depth: 16, size: 32 });
    expect(cnn3dInputSize({ inputShape: [50] })).toEqual({ depth: 50 });
    expect(cnn3dInputSize({ size: 128, base: 64 })).toBeUndefined();
    expect(cnn3dInputSize({ inputShape: 'x' })).toBeUndefined();
    const cfg = { inputShape: [10, 24, 24] as [number, number, number], filters: [2], denseUnits: 4, dropout: 0, classes: 3 };
    expect(classifierInputSize(getModelBlob(createCnn3d(cfg, { seed: 1 }), 'cnn3d', cfg))).toEqual({ depth: 10, size: 24 });
  });
});
