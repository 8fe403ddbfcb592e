import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { silentLogger, type Logger } from '../util/logger';
import { SiteAgentError, oneLine } from '../util/errors';
import { encodeNifti1, type ViewerVolume } from './nifti-writer';
import { evaluationLine } from '../predict/site-evaluation';
import type { ViewerInfo, ViewerPrediction, ViewerPredictor, ViewerStudy } from './ui.types';

/** A request the viewer cannot serve; `status` is the HTTP status, `message` one line for a person. */
export class ViewerError extends SiteAgentError {
  override readonly name = 'ViewerError';
  constructor(
    message: string,
    readonly status: number,
    code: string,
    options?: { cause?: unknown },
  ) {
    super(message, code, options);
  }
}

export interface UiServerOptions {
  /** Interface to listen on; 127.0.0.1 by default (the viewer shows patient images: keep it local). */
  host?: string;
  /** 0 = any free port. */
  port?: number;
  predictor: ViewerPredictor;
  /** The local dataset (an empty list when there is no site folder). */
  listStudies: () => ViewerStudy[];
  info: () => ViewerInfo;
  logger?: Logger;
  /** How many results (volumes) are kept in memory for the page to fetch. */
  keepResults?: number;
}

export interface UiServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

interface StoredResult {
  volume: Buffer;
  infection: Buffer | null;
}

const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/static/viewer.js': { file: 'viewer.js', type: 'text/javascript; charset=utf-8' },
  '/static/summary.js': { file: 'summary.js', type: 'text/javascript; charset=utf-8' },
  '/static/viewer.css': { file: 'viewer.css', type: 'text/css; charset=utf-8' },
};

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; connect-src 'self' blob: data:; object-src 'none'; frame-ancestors 'none'",
};

let niivueSource: string | null = null;

/**
 * The niivue browser bundle as one self-contained ES module. The package ships it URL-encoded inside
 * `build/index.min.js` (`export const esm = "..."`); it is decoded once and served from this machine.
 */
export function niivueModuleSource(): string {
  if (niivueSource !== null) return niivueSource;
  const file = findInNodeModules(join('@niivue', 'niivue', 'build', 'index.min.js'));
  const wrapped = readFileSync(file, 'utf8');
  const start = wrapped.indexOf('"');
  const end = wrapped.lastIndexOf('"');
  if (start < 0 || end <= start) throw new SiteAgentError(`${file} does not have the expected shape (export const esm = "...")`, 'viewer_asset');
  niivueSource = decodeURIComponent(wrapped.slice(start + 1, end));
  return niivueSource;
}

function findInNodeModules(relative: string): string {
  let dir = __dirname;
  for (;;) {
    const candidate = join(dir, 'node_modules', relative);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new SiteAgentError(`node_modules/${relative} not found: run npm ci`, 'viewer_asset');
    dir = parent;
  }
}

function axisSamples(from: number, to: number): { i0: Int32Array; i1: Int32Array; w: Float32Array } {
  const i0 = new Int32Array(to);
  const i1 = new Int32Array(to);
  const w = new Float32Array(to);
  for (let k = 0; k < to; k++) {
    const pos = Math.min(Math.max(((k + 0.5) * from) / to - 0.5, 0), from - 1);
    const a = Math.floor(pos);
    i0[k] = a;
    i1[k] = Math.min(a + 1, from - 1);
    w[k] = pos - a;
  }
  return { i0, i1, w };
}

/**
 * Resamples a volume to `shape` ([z, y, x]) by trilinear interpolation between voxel centres (edges
 * clamped), keeping the physical extent. Puts the infection map (e.g. 50 × 32 × 32) on the CT volume's
 * voxels (e.g. 240 × 128 × 128).
 */
export function resampleVolume(volume: ViewerVolume, shape: [number, number, number]): ViewerVolume {
  const [nz, ny, nx] = volume.shape;
  const [tz, ty, tx] = shape;
  if (nz === tz && ny === ty && nx === tx) return volume;
  const zs = axisSamples(nz, tz);
  const ys = axisSamples(ny, ty);
  const xs = axisSamples(nx, tx);
  const src = volume.data;
  const out = new Float32Array(tz * ty * tx);
  let o = 0;
  for (let k = 0; k < tz; k++) {
    const z0 = (zs.i0[k] ?? 0) * ny * nx;
    const z1 = (zs.i1[k] ?? 0) * ny * nx;
    const wz = zs.w[k] ?? 0;
    for (let j = 0; j < ty; j++) {
      const y0 = (ys.i0[j] ?? 0) * nx;
      const y1 = (ys.i1[j] ?? 0) * nx;
      const wy = ys.w[j] ?? 0;
      for (let i = 0; i < tx; i++, o++) {
        const x0 = xs.i0[i] ?? 0;
        const x1 = xs.i1[i] ?? 0;
        const wx = xs.w[i] ?? 0;
        const lerp = (a: number, b: number, t: number) => a + (b - a) * t;
        const plane = (zOff: number) =>
          lerp(lerp(src[zOff + y0 + x0] ?? 0, src[zOff + y0 + x1] ?? 0, wx), lerp(src[zOff + y1 + x0] ?? 0, src[zOff + y1 + x1] ?? 0, wx), wy);
        out[o] = lerp(plane(z0), plane(z1), wz);
      }
    }
  }
  return {
    data: out,
    shape: [tz, ty, tx],
    spacingMm: [(volume.spacingMm[0] * nz) / tz, (volume.spacingMm[1] * ny) / ty, (volume.spacingMm[2] * nx) / tx],
  };
}

/** The positive part's high end (99.5th percentile), used as the overlay's default display maximum. */
export function overlayRange(infection: Float32Array): { min: number; max: number } {
  const positive: number[] = [];
  for (const v of infection) if (v > 0) positive.push(v);
  if (positive.length === 0) return { min: 0.01, max: 0.02 };
  positive.sort((a, b) => a - b);
  const high = positive[Math.min(positive.length - 1, Math.floor(positive.length * 0.995))] ?? 0.02;
  const max = Math.max(high, 1e-3);
  return { min: max * 0.25, max };
}

/**
 * Starts the clinicians' viewer: a small HTTP server for the page, the niivue bundle, the local
 * dataset list and predictions. Nothing is fetched from outside this machine, and requests whose Host
 * header is not this server's (DNS rebinding) are refused.
 */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? silentLogger;
  const keep = options.keepResults ?? 4;
  const results = new Map<string, StoredResult>();
  let busy = false;
  let port = 0;

  const loopback = host === '127.0.0.1' || host === 'localhost' || host === '::1';
  const allowedHost = (header: string | undefined): boolean => {
    // On loopback, a page from another site must not reach the viewer through a rebound DNS name.
    if (!loopback) return true;
    if (!header) return false;
    const names = new Set(['127.0.0.1', 'localhost', '[::1]', host.includes(':') ? `[${host}]` : host]);
    return [...names].some((name) => header === `${name}:${port}`);
  };

  const predict = async (body: unknown): Promise<unknown> => {
    const path = typeof body === 'object' && body !== null && 'path' in body ? (body as { path: unknown }).path : undefined;
    if (typeof path !== 'string' || path.trim() === '') throw new ViewerError('give the path of a study folder or file', 400, 'bad_request');
    const target = resolve(path.trim());
    if (!isAbsolute(path.trim())) throw new ViewerError(`"${path}" is not an absolute path; give the full path of the study folder`, 400, 'bad_request');
    if (!existsSync(target)) throw new ViewerError(`${target} does not exist`, 404, 'not_found');
    if (busy) throw new ViewerError('a prediction is already running; wait for it to finish', 409, 'busy');
    busy = true;
    let prediction: ViewerPrediction;
    try {
      prediction = await options.predictor.predict({ path: target });
    } catch (error) {
      if (error instanceof ViewerError) throw error;
      const name = error instanceof Error ? error.name : '';
      if (name === 'DicomError') throw new ViewerError(`study unreadable: ${oneLine(error)}`, 422, 'unreadable', { cause: error });
      if (error instanceof SiteAgentError) throw new ViewerError(oneLine(error), 422, error.code, { cause: error });
      throw error;
    } finally {
      busy = false;
    }
    const id = randomBytes(8).toString('hex');
    const infection = prediction.infection ? resampleVolume(prediction.infection, prediction.volume.shape) : null;
    const range = infection ? overlayRange(infection.data) : null;
    results.set(id, {
      volume: encodeNifti1(prediction.volume, { calMin: 0, calMax: 1 }),
      infection: infection && range ? encodeNifti1({ ...infection, spacingMm: prediction.volume.spacingMm }, { calMin: range.min, calMax: range.max }) : null,
    });
    while (results.size > keep) {
      const oldest = results.keys().next().value;
      if (oldest === undefined) break;
      results.delete(oldest);
    }
    logger.info('viewer prediction', { prediction: prediction.prediction, model: prediction.model.version ?? prediction.model.sha256.slice(0, 12) });
    return {
      id,
      path: target,
      prediction: prediction.prediction,
      probabilities: prediction.probabilities,
      model: prediction.model,
      timingMs: prediction.timingMs,
      shape: prediction.volume.shape,
      spacingMm: prediction.volume.spacingMm,
      overlay: range,
      warnings: prediction.warnings,
      evaluation: prediction.evaluation ?? null,
      evaluationLine: evaluationLine(prediction.evaluation ?? null, prediction.atSite ?? false),
      description: prediction.description ?? null,
      volumeUrl: `/api/results/${id}/volume.nii`,
      infectionUrl: infection ? `/api/results/${id}/infection.nii` : null,
    };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!allowedHost(req.headers.host)) throw new ViewerError('unexpected Host header; open the address fedct-site ui printed', 403, 'forbidden');
    const url = new URL(req.url ?? '/', 'http://viewer.local');
    const route = url.pathname;
    if (req.method === 'GET' && STATIC_FILES[route]) {
      const entry = STATIC_FILES[route];
      return send(res, 200, entry.type, readFileSync(join(__dirname, 'public', entry.file)));
    }
    if (req.method === 'GET' && route === '/favicon.ico') return send(res, 204, 'image/x-icon', '');
    if (req.method === 'GET' && route === '/vendor/niivue.js') return send(res, 200, 'text/javascript; charset=utf-8', niivueModuleSource(), 'public, max-age=3600');
    if (req.method === 'GET' && route === '/api/info') return sendJson(res, 200, options.info());
    if (req.method === 'GET' && route === '/api/studies') return sendJson(res, 200, { studies: options.listStudies() });
    if (req.method === 'POST' && route === '/api/predict') {
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) throw new ViewerError('send JSON (Content-Type: application/json)', 415, 'bad_request');
      return sendJson(res, 200, await predict(await readJson(req)));
    }
    const match = /^\/api\/results\/([0-9a-f]{16})\/(volume|infection)\.nii$/.exec(route);
    if (req.method === 'GET' && match) {
      const stored = results.get(match[1] ?? '');
      const bytes = stored ? (match[2] === 'volume' ? stored.volume : stored.infection) : null;
      if (!bytes) throw new ViewerError('that result is no longer kept; run the prediction again', 404, 'not_found');
      return send(res, 200, 'application/octet-stream', bytes);
    }
    throw new ViewerError(`no such page: ${req.method ?? 'GET'} ${route}`, 404, 'not_found');
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof ViewerError ? error.status : 500;
      const code = error instanceof SiteAgentError ? error.code : 'internal';
      if (status >= 500) logger.error('viewer request failed', { error: oneLine(error), url: req.url ?? '' });
      if (!res.headersSent) sendJson(res, status, { error: { code, message: oneLine(error) } });
      else res.end();
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolveListen());
  });
  port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose());
      }),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, cache?: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, ...(cache ? { 'cache-control': cache } : {}), 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > 64 * 1024) throw new ViewerError('request body too large', 413, 'too_large');
    chunks.push(buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (error) {
    throw new ViewerError('request body is not valid JSON', 400, 'bad_request', { cause: error });
  }
}
