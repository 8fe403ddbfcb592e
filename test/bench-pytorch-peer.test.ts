import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBcduNet, createCnn3d, initBackend, loadProfile, PROFILE_NAMES, type Cnn3dConfig } from '@fedct/pipeline';
import { parsePeerOutput, peerPython, PeerError, runPytorchPeer, speedRatio, type PeerRequest } from '../scripts/bench/pytorch-peer';

/*
 * The PyTorch peer of `npm run bench -- models --vs-pytorch` must build the networks fedct trains: its
 * parameter counts are compared with tfjs' for every profile whose classifier is the paper's plain
 * network. Needs a Python with torch (Debian: apt install python3-torch); skipped without one.
 */
const hasTorch = spawnSync(peerPython(), ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

function request(profileName: string): PeerRequest {
  const { bcdunet, cnn3d } = loadProfile(profileName).models;
  const bcdu = createBcduNet(bcdunet);
  const cnn = createCnn3d(cnn3d);
  const out: PeerRequest = {
    threads: 1, steps: 1, inferReps: 1, warmup: 0, learningRate: 1e-4, paramsOnly: true,
    bcdunet: { ...bcdunet, trainBatch: 1, inferBatch: 1, params: bcdu.countParams() },
    cnn3d: { ...cnn3d, trainBatch: 1, inferBatch: 1, params: cnn.countParams() },
  };
  bcdu.dispose();
  cnn.dispose();
  return out;
}

const plainClassifier = PROFILE_NAMES.filter((name) => {
  const c: Cnn3dConfig = loadProfile(name).models.cnn3d;
  return !c.batchNorm && !c.groupNorm && !c.leakyRelu && (c.inputChannels ?? 1) === 1;
});

describe(runPytorchPeer.name, () => {
  let dir = '';
  beforeAll(async () => {
    await initBackend('wasm');
    dir = await mkdtemp(join(tmpdir(), 'fedct-peer-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.runIf(hasTorch).each(plainClassifier)('builds the %s profile\'s networks with tfjs\' parameter counts', async (name) => {
    const req = request(name);
    const out = await runPytorchPeer(req);
    expect(out.unavailable).toBeNull();
    expect(out.params).toEqual([
      { model: 'bcdunet', torch: req.bcdunet?.params, tfjs: req.bcdunet?.params },
      { model: 'cnn3d', torch: req.cnn3d?.params, tfjs: req.cnn3d?.params },
    ]);
    expect(out.results).toEqual([]);
  });

  it.runIf(hasTorch)('fails loudly when its network has another parameter count than tfjs reports', async () => {
    const req = request('tiny');
    const bcdunet = req.bcdunet;
    if (!bcdunet) throw new Error('tiny profile has no BCDU-Net');
    await expect(runPytorchPeer({ ...req, bcdunet: { ...bcdunet, params: bcdunet.params + 1 } })).rejects.toThrow(/bcdunet: PyTorch has .* parameters, tfjs .*: the networks differ/);
  });

  it.runIf(hasTorch)('measures training and inference at a tiny size', async () => {
    const req = request('tiny');
    const out = await runPytorchPeer({ ...req, paramsOnly: false, steps: 1, inferReps: 1, warmup: 1 });
    expect(out.results.map((r) => r.metric)).toEqual([
      'bcdunet.infer.slices_per_s', 'bcdunet.train.slices_per_s', 'cnn3d.infer.volumes_per_s', 'cnn3d.train.volumes_per_s',
    ]);
    for (const r of out.results) expect(r.value).toBeGreaterThan(0);
    expect(out.info.threads).toBe(1);
  });

  it('answers "PyTorch not installed" when torch cannot be imported', async () => {
    // A package named torch that fails to import, first on the path.
    await mkdir(join(dir, 'torch'), { recursive: true });
    await writeFile(join(dir, 'torch', '__init__.py'), 'raise ImportError("no torch here")\n');
    const out = await runPytorchPeer(request('tiny'), { env: { ...process.env, PYTHONPATH: dir } });
    expect(out.unavailable).toMatch(/^PyTorch not installed: apt install python3-torch/);
    expect(out.results).toEqual([]);
  });

  it('answers with the reason when the Python cannot be started', async () => {
    const out = await runPytorchPeer(request('tiny'), { python: join(dir, 'no-such-python') });
    expect(out.unavailable).toMatch(/no Python to run the PyTorch peer .*FEDCT_BENCH_PYTHON/);
  });
});

describe(parsePeerOutput.name, () => {
  it('reads info, parameter counts and results', () => {
    const out = parsePeerOutput([
      '{"kind": "info", "torch": "1.13", "threads": 2}',
      '{"kind": "params", "model": "cnn3d", "torch": 10, "tfjs": 10}',
      '{"kind": "result", "metric": "cnn3d.train.volumes_per_s", "value": 1.5, "unit": "volumes/s", "batch": 2}',
      '',
    ].join('\n'));
    expect(out).toEqual({
      unavailable: null, info: { torch: '1.13', threads: 2 }, params: [{ model: 'cnn3d', torch: 10, tfjs: 10 }],
      results: [{ metric: 'cnn3d.train.volumes_per_s', value: 1.5, unit: 'volumes/s', batch: 2 }],
    });
  });

  it('throws a PeerError for an error line and for a line that is not JSON', () => {
    expect(() => parsePeerOutput('{"kind": "error", "message": "bad"}\n')).toThrow(PeerError);
    expect(() => parsePeerOutput('Traceback (most recent call last):\n')).toThrow(/not JSON/);
  });
});

describe(speedRatio.name, () => {
  it('divides fedct\'s speed by PyTorch\'s, null when either is missing or not positive', () => {
    expect(speedRatio(3, 2)).toBe(1.5);
    expect(speedRatio(undefined, 2)).toBeNull();
    expect(speedRatio(1, 0)).toBeNull();
    expect(speedRatio(Number.NaN, 1)).toBeNull();
  });
});
