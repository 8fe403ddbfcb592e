import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeModelBlob, encodeModelBlob, sha256Hex } from '@fedct/protocol';
import { enrollSite, initSiteFolder, memoryLogger, SiteDaemon, SiteFolder, type DaemonEvents } from '@fedct/site-agent';
import { ToyEngine } from '@fedct/site-agent/testing';
import { ADMIN_TOKEN, startTestCoordinator, waitFor, waitForExperiment } from './helpers/coordinator-harness';
import { api, uploadModel } from '@fedct/site-agent/testing';

/** A TCP proxy in front of the coordinator that counts (and can cut) everything the site sends. */
class CountingProxy {
  bytesUp = 0;
  private readonly server: Server;
  private readonly open = new Set<Socket>();
  constructor(private readonly targetPort: number) {
    this.server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      this.open.add(client).add(upstream);
      client.on('data', (chunk: Buffer) => {
        this.bytesUp += chunk.length;
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => client.write(chunk));
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.open.delete(client);
        this.open.delete(upstream);
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
  }
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    if (!address || typeof address === 'string') throw new Error('proxy has no port');
    return `http://127.0.0.1:${address.port}`;
  }
  /** Cuts every connection at once, like a network failure. */
  dropAll(): void {
    for (const s of this.open) s.destroy();
  }
  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

type Coordinator = Awaited<ReturnType<typeof startTestCoordinator>>;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A seeded site with `volumes` synthetic control studies of 4 slices of 16 × 16 in the train split. */
function seededSite(volumes: number, seed: number): { site: SiteFolder; dir: string; controlMean: number } {
  const dir = join(mkdtempSync(join(tmpdir(), 'fedct-site-e2e-')), 'site');
  const site = initSiteFolder(dir, { name: `hospital-${seed}` });
  let sum = 0;
  let n = 0;
  let s = seed;
  for (let v = 0; v < volumes; v++) {
    const data = new Float32Array(4 * 16 * 16).map(() => {
      s = (s * 1103515245 + 12345) % 2147483648;
      const value = s / 2147483648;
      sum += value;
      n += 1;
      return value;
    });
    const sha = site.volumes.put(data, [4, 16, 16], [1, 1, 1]);
    site.index.upsert({ seriesInstanceUid: `1.2.${seed}.${v}`, studyInstanceUid: null, label: 'control', split: 'train', sourcePath: `/nowhere/${v}`, volumeSha256: sha, shape: [4, 16, 16], spacingMm: [1, 1, 1], sourceSlices: 4, scanner: '', warnings: [], importedAt: new Date().toISOString() });
  }
  return { site, dir, controlMean: sum / n };
}

async function setup(options: { chunkSize: number; size: number; policy?: string }) {
  const coordinator: Coordinator = await startTestCoordinator({ chunkSize: options.chunkSize });
  cleanups.push(() => coordinator.dispose());
  const proxy = new CountingProxy(Number(new URL(coordinator.url).port));
  const proxyUrl = await proxy.listen();
  cleanups.push(() => proxy.close());
  const engine = new ToyEngine(options.size);
  const initial = engine.init(7, 'bcdunet');
  const base = await uploadModel(coordinator.url, ADMIN_TOKEN, encodeModelBlob(initial));
  const seeded = seededSite(2, 11);
  if (options.policy) writeFileSync(join(seeded.dir, 'policy.yaml'), options.policy);
  const { token } = await api<{ token: string }>(coordinator.url, '/api/enrollment-tokens', ADMIN_TOKEN, 'POST', { siteName: 'hospital-a' });
  await enrollSite(seeded.site, { coordinatorUrl: proxyUrl, token });
  seeded.site.close();
  const site = SiteFolder.open(seeded.dir);
  const logger = memoryLogger();
  return { coordinator, proxy, engine, initial, base, site, logger, controlMean: seeded.controlMean };
}

function startDaemon(daemon: SiteDaemon): void {
  cleanups.push(() => daemon.stop());
  void daemon.start();
}

describe(enrollSite.name, () => {
  it('refuses a used or unknown token with the coordinator\'s reason, and pins nothing', async () => {
    const coordinator = await startTestCoordinator();
    cleanups.push(() => coordinator.dispose());
    const { site } = seededSite(0, 1);
    cleanups.push(() => site.close());
    const { token } = await api<{ token: string }>(coordinator.url, '/api/enrollment-tokens', ADMIN_TOKEN, 'POST', { siteName: 'hospital-t' });
    await expect(enrollSite(site, { coordinatorUrl: coordinator.url, token: 'not-a-token' })).rejects.toThrow(/^enrolment refused by the coordinator \(HTTP 4\d\d\)/);
    expect(site.enrollment()).toBeNull();
    await expect(enrollSite(site, { coordinatorUrl: coordinator.url, token, expectFingerprint: 'AAAA-BBBB-CCCC-DDDD' })).rejects.toThrow(/fingerprint is .* expected AAAA-BBBB-CCCC-DDDD/);
    expect(site.enrollment()).toBeNull();
  });
});

describe(SiteDaemon.name, () => {
  it('enrols, trains a round and sends one sealed update; every byte it sends is protocol, the update or counts', async () => {
    const { coordinator, proxy, engine, initial, base, site, logger, controlMean } = await setup({ chunkSize: 64 * 1024, size: 100_000 });
    expect(site.requireEnrollment().coordinator.fingerprint).toMatch(/^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$/);
    let sealed: Uint8Array | null = null;
    const daemon = new SiteDaemon({
      site,
      engine,
      logger,
      heartbeatMs: 60_000,
      onUploadChunk: (index) => {
        if (index === 0) sealed = readPending(site);
      },
    });
    const packets: unknown[] = [];
    daemon.connection.io.on('open', () => daemon.connection.io.engine.on('packetCreate', (packet: { data?: unknown }) => packets.push(packet.data)));
    proxy.bytesUp = 0;
    const submitted = daemon.next('submitted');
    startDaemon(daemon);
    await daemon.next('authenticated');
    const { id } = await api<{ id: string }>(coordinator.url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser', rounds: 1, minSites: 1, localEpochs: 2, learningRate: 0.5, initialModel: base.version, roundDeadlineSeconds: 60,
    });
    const result: DaemonEvents['submitted'] = await submitted;
    const done = await waitForExperiment(coordinator.url, id, (e) => e.status === 'completed', 30_000);

    // The global model is what the site trained: two epochs of w ← w + 0.5 (mean − w).
    const response = await fetch(`${coordinator.url}/api/models/${done.currentModel}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const published = decodeModelBlob(new Uint8Array(await response.arrayBuffer())).weights;
    for (const i of [0, 1, 99_999]) {
      const expected = (initial.weights[i] ?? 0) + 0.75 * (controlMean - (initial.weights[i] ?? 0));
      expect(published[i]).toBeCloseTo(expected, 5);
    }
    expect(done.rounds[0]?.metrics.samples).toBe(8);

    // Bytes: the sealed update plus a few per cent of protocol overhead, nothing more.
    const sealedBytes = result.sealedBytes;
    expect(sealedBytes).toBeGreaterThan(400_000);
    expect(proxy.bytesUp).toBeGreaterThan(sealedBytes);
    expect(proxy.bytesUp).toBeLessThan(sealedBytes * 1.05);

    // Content: only protocol events; binary frames are exactly the sealed envelope, which hides the model.
    const allowed = new Set(['challenge', 'auth', 'heartbeat', 'task.current', 'model.manifest', 'model.chunk', 'update.begin', 'update.chunk', 'update.commit']);
    const binary: Buffer[] = [];
    for (const data of packets) {
      if (typeof data === 'string') {
        if (data === '' || /^\d*$/.test(data)) continue; // engine.io pings, socket.io connect
        const json = data.slice(data.indexOf('['));
        if (!json.startsWith('[')) continue;
        const [event, payload] = JSON.parse(json) as [string, Record<string, unknown>];
        expect(allowed.has(event), `unexpected event ${event}`).toBe(true);
        if (event === 'heartbeat') {
          expect(Object.keys(payload).sort()).toEqual(['agentVersion', 'backend', 'datasets', 'gpu']);
          expect(Object.values(payload.datasets as Record<string, unknown>).every((v) => typeof v === 'number')).toBe(true);
        }
        expect(json.length).toBeLessThan(2000);
      } else if (data) {
        binary.push(Buffer.from(data as Uint8Array));
      }
    }
    const uploaded = Buffer.concat(binary);
    expect(sealed).not.toBeNull();
    expect(sha256Hex(uploaded)).toBe(sha256Hex(sealed ?? new Uint8Array()));
    const plainModel = Buffer.from(encodeModelBlob({ manifest: initial.manifest, weights: published }));
    expect(uploaded.indexOf(plainModel.subarray(plainModel.length - 64))).toBe(-1);
    expect(uploaded.indexOf(Buffer.from('FCTM'))).toBe(-1);
    for (const study of site.index.list()) {
      const volume = Buffer.from(site.volumes.get(study.volumeSha256).data.buffer);
      expect(uploaded.indexOf(volume.subarray(1024, 1056))).toBe(-1);
    }
  });

  it('resumes a model download from an earlier run and an upload after the connection drops in the middle of it', async () => {
    const { coordinator, proxy, engine, initial, base, site, logger } = await setup({ chunkSize: 16 * 1024, size: 50_000 });
    // An earlier run fetched the first 5 chunks of the base model before it stopped.
    const baseBytes = encodeModelBlob(initial);
    writeFileSync(join(site.paths.transfers, `${base.sha256}.part`), baseBytes.subarray(0, 5 * 16 * 1024));
    let dropped = false;
    const daemon = new SiteDaemon({
      site,
      engine,
      logger,
      heartbeatMs: 60_000,
      onUploadChunk: (index) => {
        if (index === 4 && !dropped) {
          dropped = true;
          proxy.dropAll();
        }
      },
    });
    const chunkRequests: number[] = [];
    daemon.connection.io.on('open', () =>
      daemon.connection.io.engine.on('packetCreate', (packet: { data?: unknown }) => {
        // Only the base model's chunks (the published model is fetched afterwards, through the same path).
        const match = typeof packet.data === 'string' && packet.data.includes(base.sha256) ? /"model\.chunk",\{[^}]*"index":(\d+)/.exec(packet.data) : null;
        if (match) chunkRequests.push(Number(match[1]));
      }),
    );
    const submitted = daemon.next('submitted');
    startDaemon(daemon);
    await daemon.next('authenticated');
    const { id } = await api<{ id: string }>(coordinator.url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser', rounds: 1, minSites: 1, localEpochs: 1, learningRate: 0.1, initialModel: base.version, roundDeadlineSeconds: 60,
    });
    const result = await submitted;
    expect(dropped).toBe(true);
    const totalChunks = Math.ceil(baseBytes.length / (16 * 1024));
    expect(chunkRequests).toEqual(Array.from({ length: totalChunks - 5 }, (_, i) => i + 5));
    expect(logger.events.some((e) => e.msg === 'model download resumed' && e.fields.chunks === 5)).toBe(true);
    expect(readFileSync(join(site.paths.models, `${base.sha256}.fctm`)).equals(Buffer.from(baseBytes))).toBe(true);
    expect(result.resumedAt).toBeGreaterThanOrEqual(4);
    expect(result.bytesSent).toBeLessThan(result.sealedBytes);
    expect(engine.calls).toHaveLength(1); // trained once, not again after the reconnect
    expect(logger.events.some((e) => e.msg === 'update upload resumed')).toBe(true);
    const done = await waitForExperiment(coordinator.url, id, (e) => e.status === 'completed', 30_000);
    expect(done.rounds[0]?.state).toBe('published');
  });

  it('resumes an upload after the agent itself was stopped mid-way, without training again', async () => {
    const { coordinator, base, site, logger } = await setup({ chunkSize: 16 * 1024, size: 50_000 });
    const firstEngine = new ToyEngine(50_000);
    let stoppedMidUpload: Promise<void> | null = null;
    const firstDaemon: SiteDaemon = new SiteDaemon({
      site,
      engine: firstEngine,
      logger,
      heartbeatMs: 60_000,
      onUploadChunk: (index) => {
        if (index === 3) stoppedMidUpload ??= firstDaemon.stop();
      },
    });
    startDaemon(firstDaemon);
    await firstDaemon.next('authenticated');
    const { id } = await api<{ id: string }>(coordinator.url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser', rounds: 1, minSites: 1, localEpochs: 1, learningRate: 0.1, initialModel: base.version, roundDeadlineSeconds: 60,
    });
    await waitFor(() => stoppedMidUpload !== null, 30_000, 'the first agent to stop mid-upload');
    await stoppedMidUpload;
    expect(firstEngine.calls).toHaveLength(1);
    expect(readdirSync(site.paths.transfers).filter((n) => n.endsWith('.sealed'))).toHaveLength(1);

    const secondEngine = new ToyEngine(50_000);
    const second = new SiteDaemon({ site, engine: secondEngine, logger, heartbeatMs: 60_000 });
    const submitted = second.next('submitted');
    startDaemon(second);
    const result = await submitted;
    expect(secondEngine.calls).toHaveLength(0);
    expect(result.resumedAt).toBeGreaterThanOrEqual(3);
    expect(readdirSync(site.paths.transfers).filter((n) => n.endsWith('.sealed'))).toHaveLength(0);
    expect((await waitForExperiment(coordinator.url, id, (e) => e.status === 'completed', 30_000)).rounds[0]?.state).toBe('published');
  });

  it('will not talk to a coordinator whose keys differ from the ones pinned at enrolment', async () => {
    const { engine, site, logger } = await setup({ chunkSize: 64 * 1024, size: 1000 });
    const enrollment = site.requireEnrollment();
    site.saveEnrollment({ ...enrollment, coordinator: { ...enrollment.coordinator, boxPublicKey: Buffer.alloc(32, 9).toString('base64') } });
    const daemon = new SiteDaemon({ site, engine, logger, heartbeatMs: 60_000 });
    let authenticated = false;
    daemon.on('authenticated', () => {
      authenticated = true;
    });
    startDaemon(daemon);
    await waitFor(() => logger.events.some((e) => e.level === 'error' && /pinned at enrolment/.test(String(e.fields.error))), 10_000, 'the pin mismatch');
    expect(authenticated).toBe(false);
    expect(daemon.connection.connected).toBe(false);
  });

  it('takes part in a secure-aggregation round: the coordinator publishes the weighted mean of masked updates', async () => {
    const coordinator: Coordinator = await startTestCoordinator();
    cleanups.push(() => coordinator.dispose());
    const size = 3000;
    const initial = new ToyEngine(size).init(7, 'bcdunet');
    const base = await uploadModel(coordinator.url, ADMIN_TOKEN, encodeModelBlob(initial));
    const sites: { controlMean: number; samples: number; logger: ReturnType<typeof memoryLogger>; submitted: Promise<DaemonEvents['submitted']> }[] = [];
    for (const [i, volumes] of [1, 3].entries()) {
      const seeded = seededSite(volumes, 20 + i);
      const { token } = await api<{ token: string }>(coordinator.url, '/api/enrollment-tokens', ADMIN_TOKEN, 'POST', { siteName: `secure-${i}` });
      await enrollSite(seeded.site, { coordinatorUrl: coordinator.url, token });
      cleanups.push(() => seeded.site.close());
      const engine = new ToyEngine(size);
      const logger = memoryLogger();
      const daemon = new SiteDaemon({ site: seeded.site, engine, logger, heartbeatMs: 60_000 });
      const submitted = daemon.next('submitted');
      startDaemon(daemon);
      await daemon.next('authenticated');
      sites.push({ controlMean: seeded.controlMean, submitted, logger, samples: volumes * 4 });
    }
    const { id } = await api<{ id: string }>(coordinator.url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser', rounds: 1, minSites: 2, localEpochs: 1, learningRate: 0.5, initialModel: base.version,
      secureAgg: true, secAggClipRange: 1, secAggStageSeconds: 10, roundDeadlineSeconds: 30,
    });
    await Promise.all(sites.map((x) => x.submitted));
    const done = await waitForExperiment(coordinator.url, id, (e) => e.status !== 'running', 30_000);
    expect(done.status).toBe('completed');
    expect(done.rounds[0]?.results.map((r) => r.status)).toEqual(['accepted', 'accepted']);
    const response = await fetch(`${coordinator.url}/api/models/${done.currentModel}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const published = decodeModelBlob(new Uint8Array(await response.arrayBuffer())).weights;
    // Each site's delta is 0.5 (mean − w); the coordinator sees only the masked sum, weighted by slices.
    const total = sites.reduce((n, x) => n + x.samples, 0);
    let maxError = 0;
    for (let i = 0; i < size; i++) {
      const w = initial.weights[i] ?? 0;
      const expected = w + sites.reduce((acc, x) => acc + (x.samples / total) * 0.5 * (x.controlMean - w), 0);
      maxError = Math.max(maxError, Math.abs((published[i] ?? 0) - expected));
    }
    expect(maxError).toBeLessThan(1e-4);
    for (const x of sites) {
      expect(x.logger.events.some((e) => e.msg === 'secure aggregation: unmasking shares sent')).toBe(true);
      expect(x.logger.events.some((e) => e.msg === 'secure aggregation: leaving the round')).toBe(false);
    }
  });

  it('applies the differential privacy its own policy requires, whatever the experiment asks', async () => {
    const policy = 'requireDp:\n  maxClipNorm: 1\n  minNoiseMultiplier: 0.3\n';
    const { coordinator, engine, initial, base, site, logger } = await setup({ chunkSize: 64 * 1024, size: 4000, policy });
    const daemon = new SiteDaemon({ site, engine, logger, heartbeatMs: 60_000 });
    const submitted = daemon.next('submitted');
    startDaemon(daemon);
    await daemon.next('authenticated');
    const { id } = await api<{ id: string }>(coordinator.url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser', rounds: 1, minSites: 1, localEpochs: 1, learningRate: 0.5, initialModel: base.version, roundDeadlineSeconds: 60,
    });
    const result = await submitted;
    expect(result.metrics.dp_noise_stddev).toBeCloseTo(0.3, 6);
    expect(result.metrics.dp_epsilon).toBeGreaterThan(0);
    const done = await waitForExperiment(coordinator.url, id, (e) => e.status === 'completed', 30_000);
    const response = await fetch(`${coordinator.url}/api/models/${done.currentModel}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const published = decodeModelBlob(new Uint8Array(await response.arrayBuffer())).weights;
    // The delta (norm ≈ 0.5·√4000 ≈ 32 before clipping) is clipped to norm 1, then N(0, 0.3²) noise per weight.
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < published.length; i++) {
      const d = (published[i] ?? 0) - (initial.weights[i] ?? 0);
      sum += d;
      sq += d * d;
    }
    const std = Math.sqrt(sq / published.length - (sum / published.length) ** 2);
    expect(std).toBeGreaterThan(0.28);
    expect(std).toBeLessThan(0.32);
  });

  it('refuses a task that breaks the site policy and tells the coordinator why', async () => {
    const { coordinator, engine, base, site, logger } = await setup({ chunkSize: 64 * 1024, size: 1000, policy: 'maxLocalEpochs: 1\n' });
    const daemon = new SiteDaemon({ site, engine, logger, heartbeatMs: 60_000 });
    const refused = daemon.next('refused');
    startDaemon(daemon);
    await daemon.next('authenticated');
    const { id } = await api<{ id: string }>(coordinator.url, '/api/experiments', ADMIN_TOKEN, 'POST', {
      phase: 'denoiser', rounds: 1, minSites: 1, localEpochs: 3, initialModel: base.version, roundDeadlineSeconds: 60, maxRoundRetries: 0,
    });
    const event = await refused;
    expect(event.rule).toBe('maxLocalEpochs');
    expect(event.reason).toMatch(/3 local epochs, policy allows at most 1/);
    expect(engine.calls).toHaveLength(0);
    const status = await waitForExperiment(coordinator.url, id, (e) => (e.rounds[0]?.results ?? []).some((r) => r.status !== 'invited' && r.status !== 'training'), 30_000);
    expect(status.rounds[0]?.results[0]?.reason).toMatch(/refused by site policy \(maxLocalEpochs\)/);
  });
});

function readPending(site: SiteFolder): Uint8Array {
  const name = readdirSync(site.paths.transfers).find((n) => n.endsWith('.sealed'));
  if (!name) throw new Error('no pending sealed update');
  return new Uint8Array(readFileSync(join(site.paths.transfers, name)));
}
