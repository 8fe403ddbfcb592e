/**
 * Coordinator bench: streaming FedAvg fold speed, and one real round (coordinator as its own process,
 * simulated sites on loopback: chunked model download, sealed chunked upload, verification, fold,
 * publish) for a BCDU-Net-sized model (5,167,365 floats) with 10, 50 and 100 sites.
 * `coordinator.rss_mb` is the coordinator process's peak RSS during the round (from /metrics);
 * `coordinator.round_seconds` the round's wall time (sites' work included: they share the machine);
 * `coordinator.round_cpu_seconds` the CPU time the coordinator process itself spent in the round.
 * The simulated sites run in this process (their updates sealed before the round starts), at most
 * SITE_CONCURRENCY transferring at a time, on the same CPU cores as the coordinator.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setFlagsFromString } from 'node:v8';
import { WeightedSum } from '@fedct/strategies';
import { createNonce, fromBase64, seal } from '@fedct/crypto';
import { DEFAULT_CHUNK_SIZE, encodeModelBlob, type Task } from '@fedct/protocol';
import { SimSite, api, prepareUpload, simulatedTraining, uploadModel, type PreparedUpload } from '@fedct/site-agent/testing';
import { PARAMS, SITE_CONCURRENCY } from './coordinator-params';
import type { BenchSuite } from './types';

const TOKEN = 'bench-admin-token-0123456789';
/** Transfer chunk size (the coordinator's `chunkSize`); FEDCT_BENCH_CHUNK_SIZE overrides it. */
const CHUNK_SIZE = Number(process.env.FEDCT_BENCH_CHUNK_SIZE ?? DEFAULT_CHUNK_SIZE);

function startCoordinator(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const config = join(dataDir, 'coordinator.yaml');
  writeFileSync(config, `host: 127.0.0.1\nport: 0\ndataDir: ${join(dataDir, 'data')}\nadminToken: ${TOKEN}\nschedulerIntervalMs: 100\nlogFormat: json\nchunkSize: ${CHUNK_SIZE}\n`);
  const bin = resolve(__dirname, '..', '..', 'apps', 'coordinator', 'bin', 'fedct-coordinator.js');
  // FEDCT_BENCH_COORDINATOR_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the coordinator.
  const nodeArgs = (process.env.FEDCT_BENCH_COORDINATOR_NODE_ARGS ?? '').split(' ').filter((a) => a.length > 0);
  const child = spawn(process.execPath, [...nodeArgs, bin, 'start', '--config', config], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolvePromise, reject) => {
    // FEDCT_BENCH_COORDINATOR_LOG=FILE keeps the coordinator's output (logs, --trace-gc, ...).
    const log = process.env.FEDCT_BENCH_COORDINATOR_LOG;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (log) appendFileSync(log, `${line}\n`);
      const m = /listening on (\S+)$/.exec(line);
      if (m) resolvePromise({ child, url: m[1]! });
    });
    child.once('exit', (code) => reject(new Error(`coordinator exited with ${code}`)));
  });
}

/**
 * CPU seconds per thread of a process (Linux /proc; empty elsewhere): the coordinator's main thread
 * has the process id; the others are the verification workers, V8's garbage-collection helpers and libuv.
 */
function threadCpu(pid: number | undefined): Map<number, number> {
  const out = new Map<number, number>();
  if (pid === undefined || !existsSync(`/proc/${pid}/task`)) return out;
  const ticks = 100; // USER_HZ
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), (Number(fields[11]) + Number(fields[12])) / ticks);
    } catch {
      // the thread ended
    }
  }
  return out;
}

async function gauge(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} ([0-9.e+-]+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

const rssBytes = (url: string) => gauge(url, 'process_resident_memory_bytes');

function bcdunetSized(): { manifest: { model: string; config: Record<string, unknown>; tensors: { name: string; shape: number[] }[] }; weights: Float32Array } {
  const weights = new Float32Array(PARAMS);
  for (let i = 0; i < PARAMS; i++) weights[i] = Math.sin(i * 0.001) * 0.05;
  return { manifest: { model: 'bcdunet', config: {}, tensors: [{ name: 'all', shape: [PARAMS - 5] }, { name: 'bias', shape: [5] }] }, weights };
}

/**
 * One round with `sites` simulated sites; returns the round's wall time and the coordinator's peak RSS.
 * Each site's update is sealed before the round (its own key, header and nonce), so the timed part is
 * what a round costs when sites work in parallel on their own machines: task push, every site's chunked
 * model download (verified, then discarded), chunked upload, the coordinator's verification and fold,
 * aggregation and publishing. At most SITE_CONCURRENCY sites transfer at once.
 */
async function oneRound(sites: number): Promise<{ seconds: number; peakMb: number; idleMb: number; bytesIn: number; cpuSeconds: number; sitesCpuSeconds: number; publishAfterLastUpload: number; mainThreadSeconds: number; otherThreadsSeconds: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'fedct-bench-coord-'));
  const { child, url } = await startCoordinator(dir);
  try {
    const base = bcdunetSized();
    const baseBytes = encodeModelBlob(base);
    const model = await uploadModel(url, TOKEN, baseBytes);
    const trained = encodeModelBlob({ manifest: base.manifest, weights: simulatedTraining(base.weights, 0.001) });
    const simulated: SimSite[] = [];
    for (let i = 0; i < sites; i++) simulated.push(await SimSite.enroll(url, TOKEN, `bench-${i}`, 0.001, { sampleCount: 10 + i, cacheDownloads: false, autopilot: false }));
    const { id } = await api<{ id: string }>(url, '/api/experiments', TOKEN, 'POST', { phase: 'denoiser', rounds: 1, minSites: sites, roundDeadlineSeconds: 3600, initialModel: model.version });
    const sealed = new Map<string, PreparedUpload>();
    for (const site of simulated) {
      sealed.set(site.siteId, prepareUpload(seal(
        { experiment: id, round: 1, site: site.siteId, baseModelSha256: model.sha256, sampleCount: site.options.sampleCount ?? 10, metrics: { loss: 0.5 }, nonce: createNonce(), time: new Date().toISOString() },
        trained,
        site.identity.signing.secretKey,
        fromBase64(site.coordinator.boxPublicKey),
      ), CHUNK_SIZE));
    }
    let running = 0;
    const waiters: (() => void)[] = [];
    const acquire = async (): Promise<void> => {
      if (running < SITE_CONCURRENCY) {
        running++;
        return;
      }
      await new Promise<void>((r) => waiters.push(r));
    };
    const release = (): void => {
      const next = waiters.shift();
      if (next) next();
      else running--;
    };
    const failures: string[] = [];
    let started = 0;
    let sitesCpu0: NodeJS.CpuUsage | null = null;
    // The critical path the coordinator adds after the slowest site: from the moment the last site has
    // every chunk of its update acknowledged to the moment the published model is announced.
    let lastChunksDone = 0;
    let publishedAt = 0;
    for (const site of simulated) {
      site.socket = null;
      const reply = await site.connect();
      if (!reply.ok) throw new Error(reply.message);
      const handle = (task: Task): void => {
        if (!started) {
          started = performance.now();
          sitesCpu0 = process.cpuUsage();
        }
        void (async () => {
          await acquire();
          try {
            await site.downloadAndVerify(task.baseModel!.sha256);
            const prepared = sealed.get(site.siteId)!;
            if (prepared.manifest.chunkSize !== task.chunkSize) throw new Error(`the coordinator asks for ${task.chunkSize}-byte chunks`);
            const result = await site.upload(task, prepared, { onChunksDone: () => (lastChunksDone = Math.max(lastChunksDone, performance.now())) });
            if (!result?.ok) failures.push(JSON.stringify(result));
          } catch (error) {
            failures.push((error as Error).message);
          } finally {
            release();
          }
        })();
      };
      // A task that arrived while connect() was still finishing is in site.tasks already.
      site.socket!.off('task');
      site.socket!.on('task', handle);
      site.socket!.on('model.published', () => (publishedAt ||= performance.now()));
      for (const task of site.tasks.splice(0)) handle(task);
      if (simulated.indexOf(site) === sites - 2) {
        if (typeof global.gc === 'function') global.gc();
        await new Promise((r) => setTimeout(r, 300));
      }
    }
    const threads0 = threadCpu(child.pid);
    const idle = await rssBytes(url);
    let peak = idle;
    const cpu0 = await gauge(url, 'process_cpu_seconds_total');
    for (;;) {
      peak = Math.max(peak, await rssBytes(url));
      const e = await api<{ status: string; rounds: { state: string }[] }>(url, `/api/experiments/${id}`, TOKEN);
      if (e.status !== 'running') {
        if (e.status !== 'completed') throw new Error(`experiment ended ${e.status}: ${JSON.stringify(e.rounds)}`);
        break;
      }
      if (failures.length > 0) throw new Error(`a site failed: ${failures[0]}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (performance.now() - started) / 1000;
    const sitesCpu = process.cpuUsage(sitesCpu0 ?? undefined);
    const threads1 = threadCpu(child.pid);
    const threadSeconds = [...threads1].map(([tid, cpu]) => ({ tid, seconds: cpu - (threads0.get(tid) ?? 0) })).filter((t) => t.seconds >= 0.01);
    const deadline = Date.now() + 5000;
    while (!publishedAt && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (!publishedAt) throw new Error('no model.published announcement reached the sites');
    const cpuSeconds = (await gauge(url, 'process_cpu_seconds_total')) - cpu0;
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const bytesIn = Number(/^fedct_bytes_in_total (\d+)/m.exec(metrics)?.[1] ?? NaN);
    for (const s of simulated) s.disconnect();
    return {
      seconds,
      peakMb: peak / 2 ** 20,
      idleMb: idle / 2 ** 20,
      bytesIn,
      cpuSeconds,
      sitesCpuSeconds: (sitesCpu.user + sitesCpu.system) / 1e6,
      publishAfterLastUpload: (publishedAt - lastChunksDone) / 1000,
      mainThreadSeconds: threadSeconds.find((t) => t.tid === child.pid)?.seconds ?? NaN,
      otherThreadsSeconds: threadSeconds.filter((t) => t.tid !== child.pid).map((t) => Math.round(t.seconds * 100) / 100),
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

const run: BenchSuite = async function* ({ quick }) {
  // The simulated sites share this process's small JS heap while hundreds of MB of transfer buffers
  // pass through it: the same V8 setting as the coordinator's `heapGrowingPercent` keeps them from
  // running a full GC for nearly every model they download (their CPU is on the coordinator's cores).
  if (process.env.FEDCT_BENCH_SITES_HEAP_GROWING_PERCENT !== '0') setFlagsFromString(`--heap-growing-percent=${process.env.FEDCT_BENCH_SITES_HEAP_GROWING_PERCENT ?? 200}`);
  const update = new Float32Array(PARAMS).map((_, i) => Math.cos(i));
  const sum = new WeightedSum(PARAMS);
  sum.fold(update, 1);
  const reps = quick ? 5 : 20;
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) sum.fold(update, r + 1);
  const seconds = (performance.now() - t0) / 1000;
  yield { metric: 'aggregate.gb_per_s', value: (reps * PARAMS * 4) / 1e9 / seconds, unit: 'GB/s', params: PARAMS, strategy: 'fedavg' };

  // FEDCT_BENCH_SITES="20" runs only those site counts (profiling).
  const only = (process.env.FEDCT_BENCH_SITES ?? '').split(',').filter((v) => v.trim().length > 0).map(Number);
  for (const sites of only.length > 0 ? only : quick ? [4, 8] : [10, 50, 100]) {
    const r = await oneRound(sites);
    yield { metric: 'coordinator.rss_mb', value: r.peakMb, unit: 'MB', sites, idleMb: Math.round(r.idleMb), params: PARAMS, siteConcurrency: SITE_CONCURRENCY };
    yield { metric: 'coordinator.round_seconds', value: r.seconds, unit: 's', sites, updateGb: r.bytesIn / 1e9, params: PARAMS, siteConcurrency: SITE_CONCURRENCY };
    yield { metric: 'coordinator.round_cpu_seconds', value: r.cpuSeconds, unit: 's', sites, perUpdateMs: (1000 * r.cpuSeconds) / sites, mainThreadSeconds: r.mainThreadSeconds, otherThreadsSeconds: r.otherThreadsSeconds, simSitesCpuSeconds: r.sitesCpuSeconds, params: PARAMS };
    yield { metric: 'coordinator.publish_after_last_upload_seconds', value: r.publishAfterLastUpload, unit: 's', sites, params: PARAMS };
  }
};
export default run;
