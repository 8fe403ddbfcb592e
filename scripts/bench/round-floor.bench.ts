/**
 * `npm run bench -- round-floor`: a lower bound on the coordinator bench's round, from the work every
 * update needs on this machine with nothing else around it. For one 5,167,365-parameter update
 * (20.67 MB): the primitives the coordinator must run (chunk SHA-256, ChaCha20-Poly1305, finiteness and
 * norm, the float64 fold, the spool write) and the bare socket.io transport of one site's round (the
 * base model down and the update up in 512 KiB chunks with acknowledgements, 16 sites at a time, as the
 * coordinator bench does), CPU on the server and on the clients measured separately; plus the site's
 * chunk check of its download. `floor.round_seconds` = 100 × (sum of the per-site CPU) / cores: what a
 * 100-site round would take with every core busy all the time and no other cost (no JavaScript around
 * the primitives, no garbage collector, no database).
 */
import { fork } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { PARAMS, SITE_CONCURRENCY } from './coordinator-params';
import type { BenchSuite } from './types';

const BYTES = PARAMS * 4;
// The protocol's DEFAULT_CHUNK_SIZE. Not imported: loading the libraries into this process added
// their garbage collection to the clients' measured CPU (≈ 3 ms per site).
const CHUNK = 512 * 1024;
const CONCURRENCY = SITE_CONCURRENCY;

/** Mean milliseconds per call of `fn` after one warm-up call. */
function timeMs(fn: () => void, repeats: number): number {
  fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < repeats; i++) fn();
  return Number(process.hrtime.bigint() - start) / 1e6 / repeats;
}

/** The transport server: socket.io as the coordinator runs it (bufferutil present), in its own process. */
const SERVER = `
const { Server } = require(${JSON.stringify(require.resolve('socket.io', { paths: [join(__dirname, '..', '..', 'apps', 'coordinator')] }))});
const http = require('node:http');
const server = http.createServer();
const sio = new Server(server, { maxHttpBufferSize: 2 * 1024 * 1024, transports: ['websocket'] });
const blob = Buffer.alloc(${BYTES}, 7);
sio.on('connection', (socket) => {
  socket.on('down', (p, ack) => ack({ bytes: blob.subarray(p.i * ${CHUNK}, Math.min(blob.length, (p.i + 1) * ${CHUNK})) }));
  socket.on('up', (p, ack) => ack({ n: p.bytes.length }));
  socket.on('cpu', (_p, ack) => ack(process.cpuUsage()));
});
server.listen(0, '127.0.0.1', () => process.send(server.address().port));
`;

async function transport(sites: number): Promise<{ serverMs: number; clientMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'fedct-floor-'));
  const file = join(dir, 'server.js');
  writeFileSync(file, SERVER);
  const child = fork(file, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const sockets: Socket[] = [];
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve(Number(m)));
      child.once('exit', (code) => reject(new Error(`transport server exited with ${code}`)));
    });
    for (let i = 0; i < CONCURRENCY; i++) {
      const socket = io(`http://127.0.0.1:${port}`, { transports: ['websocket'] });
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      sockets.push(socket);
    }
    const chunks = Math.ceil(BYTES / CHUNK);
    const update = Buffer.alloc(BYTES, 3);
    const serverBefore = (await sockets[0]!.emitWithAck('cpu', {})) as NodeJS.CpuUsage;
    const clientBefore = process.cpuUsage();
    let next = 0;
    await Promise.all(
      sockets.map(async (socket) => {
        while (next < sites) {
          next++;
          for (let i = 0; i < chunks; i++) await socket.emitWithAck('down', { i });
          for (let i = 0; i < chunks; i++) await socket.emitWithAck('up', { i, bytes: update.subarray(i * CHUNK, Math.min(BYTES, (i + 1) * CHUNK)) });
        }
      }),
    );
    const client = process.cpuUsage(clientBefore);
    const serverAfter = (await sockets[0]!.emitWithAck('cpu', {})) as NodeJS.CpuUsage;
    return {
      serverMs: (serverAfter.user - serverBefore.user + serverAfter.system - serverBefore.system) / 1000 / sites,
      clientMs: (client.user + client.system) / 1000 / sites,
    };
  } finally {
    for (const socket of sockets) socket.disconnect();
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

const run: BenchSuite = async function* ({ quick }) {
  const repeats = quick ? 3 : 10;
  const data = randomBytes(BYTES);
  const context = { params: PARAMS, cores: availableParallelism() };
  const sha256 = timeMs(() => createHash('sha256').update(data).digest(), repeats);
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const chacha = timeMs(() => {
    const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    cipher.update(data);
    cipher.final();
  }, repeats);
  const weights = new Float32Array(PARAMS).map((_, i) => Math.sin(i));
  const base = new Float32Array(PARAMS);
  let sink = 0;
  const norm = timeMs(() => {
    let sum = 0;
    for (let i = 0; i < PARAMS; i++) {
      const d = weights[i]! - base[i]!;
      sum += d * d;
    }
    sink += sum;
  }, repeats);
  const sum = new Float64Array(PARAMS);
  const fold = timeMs(() => {
    for (let i = 0; i < PARAMS; i++) sum[i]! += 3 * weights[i]!;
  }, repeats);
  const dir = mkdtempSync(join(tmpdir(), 'fedct-floor-spool-'));
  let files = 0;
  const spool = timeMs(() => {
    const fd = openSync(join(dir, `u${files++}`), 'w');
    ftruncateSync(fd, BYTES);
    for (let offset = 0; offset < BYTES; offset += CHUNK) writeSync(fd, data, offset, Math.min(CHUNK, BYTES - offset), offset);
    closeSync(fd);
    // As the round's checkpoints do: at most 8 spooled updates on disk.
    if (files % 8 === 0) for (let f = files - 8; f < files; f++) rmSync(join(dir, `u${f}`), { force: true });
  }, repeats * 2);
  // The verification worker reads the spooled envelope back (from the page cache) into a reused buffer.
  const readBack = Buffer.allocUnsafeSlow(BYTES);
  const last = join(dir, 'read-back');
  writeFileSync(last, data);
  const spoolRead = timeMs(() => {
    const fd = openSync(last, 'r');
    for (let done = 0; done < BYTES; ) done += readSync(fd, readBack, done, BYTES - done, done);
    closeSync(fd);
  }, repeats);
  rmSync(dir, { recursive: true, force: true });
  if (sink === 42) process.stderr.write('');
  const { serverMs, clientMs } = await transport(quick ? 32 : 64);
  const coordinatorMs = sha256 + chacha + norm + fold + spool + spoolRead + serverMs;
  // The site checks each chunk of its download (SHA-256); the bench's sites also hash the whole blob.
  const siteMs = clientMs + sha256;
  yield { metric: 'floor.sha256_ms', value: sha256, unit: 'ms', ...context };
  yield { metric: 'floor.chacha20_poly1305_ms', value: chacha, unit: 'ms', ...context };
  yield { metric: 'floor.norm_check_ms', value: norm, unit: 'ms', ...context };
  yield { metric: 'floor.fold_ms', value: fold, unit: 'ms', ...context };
  yield { metric: 'floor.spool_write_ms', value: spool, unit: 'ms', ...context };
  yield { metric: 'floor.spool_read_ms', value: spoolRead, unit: 'ms', ...context };
  yield { metric: 'floor.transport_coordinator_ms', value: serverMs, unit: 'ms', what: 'socket.io server CPU per site: 20.67 MB down and up in 512 KiB chunks', ...context };
  yield { metric: 'floor.transport_site_ms', value: clientMs, unit: 'ms', what: 'socket.io client CPU per site, same transfers', ...context };
  yield { metric: 'floor.coordinator_ms_per_update', value: coordinatorMs, unit: 'ms', ...context };
  yield { metric: 'floor.site_ms_per_update', value: siteMs, unit: 'ms', ...context };
  yield { metric: 'floor.round_seconds', value: (100 * (coordinatorMs + siteMs)) / 1000 / context.cores, unit: 's', sites: 100, what: 'lower bound: all cores busy, no overhead', ...context };
};

export default run;
