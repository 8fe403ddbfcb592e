import type { CreateEvaluation, CreateExperiment } from '@fedct/protocol';
import { z } from 'zod';
import { DemoError } from './errors';

const experimentCreatedSchema = z.object({ id: z.string() }).loose();
const tokenSchema = z.object({ token: z.string(), expiresAt: z.string().optional() }).loose();
const modelInfoSchema = z.object({ version: z.string(), sha256: z.string() }).loose();
const roundSchema = z
  .object({
    round: z.number(),
    state: z.string(),
    participants: z.array(z.string()).default([]),
    modelVersion: z.string().nullable().default(null),
    metrics: z.record(z.string(), z.number()).default({}),
    results: z
      .array(z.object({ siteId: z.string(), status: z.string(), sampleCount: z.number().nullable().optional(), metrics: z.record(z.string(), z.number()).nullable().optional() }).loose())
      .default([]),
  })
  .loose();
const experimentSchema = z
  .object({
    id: z.string(),
    status: z.string(),
    phase: z.string(),
    currentModel: z.string().nullable().default(null),
    publishedRounds: z.number().default(0),
    reason: z.string().nullable().default(null),
    rounds: z.array(roundSchema).default([]),
  })
  .loose();
const siteSchema = z.object({ id: z.string(), name: z.string() }).loose();
const proportionSchema = z.object({ value: z.number().nullable(), ci: z.tuple([z.number(), z.number()]), n: z.number() }).loose();
const summarySchema = z
  .object({
    n: z.number(),
    accuracy: proportionSchema,
    aucCovid: z.object({ value: z.number().nullable(), ci: z.tuple([z.number(), z.number()]).nullable(), binningError: z.number() }).loose(),
    confusion: z.array(z.array(z.number())),
  })
  .loose();
/** The parts of `GET /api/evaluations/:id` the demo reads (the full view: EvaluationView in @fedct/protocol). */
const evaluationSchema = z
  .object({
    id: z.string(),
    status: z.string(),
    split: z.enum(['val', 'test']),
    classifier: z.object({ version: z.string(), sha256: z.string() }).loose(),
    sites: z.array(z.object({ siteId: z.string(), siteName: z.string(), status: z.string(), reason: z.string().nullable(), summary: summarySchema.nullable() }).loose()),
    missing: z.array(z.object({ siteId: z.string(), siteName: z.string(), status: z.string(), reason: z.string().nullable() }).loose()).default([]),
  })
  .loose();

export type ExperimentView = z.infer<typeof experimentSchema>;
export type RoundView = z.infer<typeof roundSchema>;
export type ModelInfo = z.infer<typeof modelInfoSchema>;
export type EvaluationReply = z.infer<typeof evaluationSchema>;

/** Unwraps `{ ok, data }` replies if the coordinator uses them for REST too; plain bodies pass through. */
function unwrap(body: unknown): unknown {
  if (body && typeof body === 'object' && 'ok' in body && 'data' in body && (body as { ok: unknown }).ok === true) return (body as { data: unknown }).data;
  return body;
}

/** The coordinator's admin REST API (docs/ARCHITECTURE.md, the admin API) as the demo uses it. */
export class AdminClient {
  constructor(
    private baseUrl: string,
    private readonly token: string,
  ) {}

  /** Points the client at a restarted coordinator. */
  setBaseUrl(url: string): void {
    this.baseUrl = url;
  }

  get url(): string {
    return this.baseUrl;
  }

  private async request(method: string, path: string, body?: unknown): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      throw new DemoError(`${method} ${path}: coordinator not reachable at ${this.baseUrl} (${error instanceof Error ? error.message : String(error)})`, { cause: error });
    }
    if (!response.ok) {
      const text = (await response.text()).slice(0, 300).replace(/\s+/g, ' ');
      throw new DemoError(`${method} ${path}: HTTP ${response.status} ${text}`);
    }
    return response;
  }

  private async json<T>(schema: z.ZodType<T>, method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.request(method, path, body);
    const parsed = schema.safeParse(unwrap(await response.json()));
    if (!parsed.success) throw new DemoError(`${method} ${path}: unexpected reply: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return parsed.data;
  }

  /** True when `/api/health` answers. */
  async healthy(): Promise<boolean> {
    try {
      const response = await fetch(`${this.baseUrl}/api/health`, { signal: AbortSignal.timeout(2000) });
      return response.ok;
    } catch {
      return false;
    }
  }

  createEnrollmentToken(siteName: string): Promise<{ token: string }> {
    return this.json(tokenSchema, 'POST', '/api/enrollment-tokens', { siteName });
  }

  sites(): Promise<{ id: string; name: string }[]> {
    return this.json(z.array(siteSchema), 'GET', '/api/sites');
  }

  async createExperiment(settings: CreateExperiment): Promise<string> {
    return (await this.json(experimentCreatedSchema, 'POST', '/api/experiments', settings)).id;
  }

  experiment(id: string): Promise<ExperimentView> {
    return this.json(experimentSchema, 'GET', `/api/experiments/${encodeURIComponent(id)}`);
  }

  /** `POST /api/evaluations`: a federated evaluation of a published classifier. */
  createEvaluation(body: CreateEvaluation): Promise<EvaluationReply> {
    return this.json(evaluationSchema, 'POST', '/api/evaluations', body);
  }

  evaluation(id: string): Promise<EvaluationReply> {
    return this.json(evaluationSchema, 'GET', `/api/evaluations/${encodeURIComponent(id)}`);
  }

  async models(): Promise<ModelInfo[]> {
    const body = await this.json(z.union([z.array(modelInfoSchema), z.object({ models: z.array(modelInfoSchema) }).loose()]), 'GET', '/api/models');
    return Array.isArray(body) ? body : body.models;
  }

  /** Registers a model blob (an experiment's initial model) and returns its registry entry. */
  async uploadModel(bytes: Uint8Array, phase: 'denoiser' | 'classifier'): Promise<ModelInfo> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}/api/models?phase=${phase}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/octet-stream' },
        body: bytes,
        signal: AbortSignal.timeout(60_000),
      });
    } catch (error) {
      throw new DemoError(`POST /api/models: coordinator not reachable at ${this.baseUrl}`, { cause: error });
    }
    if (!response.ok) throw new DemoError(`POST /api/models: HTTP ${response.status} ${(await response.text()).slice(0, 300).replace(/\s+/g, ' ')}`);
    const parsed = modelInfoSchema.safeParse(unwrap(await response.json()));
    if (!parsed.success) throw new DemoError('POST /api/models: unexpected reply');
    return parsed.data;
  }

  /** The encoded model blob of a published version. */
  async modelBytes(version: string): Promise<Uint8Array> {
    const response = await this.request('GET', `/api/models/${encodeURIComponent(version)}`);
    return new Uint8Array(await response.arrayBuffer());
  }

  /** Counters from `/metrics` (Prometheus text), summed over labels. */
  async counters(): Promise<Record<string, number>> {
    const response = await this.request('GET', '/metrics');
    return parsePrometheus(await response.text());
  }
}

/** Sums every sample of each metric name in Prometheus text exposition format. */
export function parsePrometheus(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/);
    if (!match?.[1] || match[3] === undefined) continue;
    const value = Number(match[3]);
    if (Number.isFinite(value)) out[match[1]] = (out[match[1]] ?? 0) + value;
  }
  return out;
}
