import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { ConfigError, DEFAULT_CHUNK_SIZE, loadConfigFile, parseConfig } from '@fedct/protocol';
import { z } from 'zod';

/** The coordinator's configuration, validated once at start-up. */
export const coordinatorConfigSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    /** 0 = any free port (the actual port is printed). */
    port: z.number().int().min(0).max(65535).default(8080),
    /** SQLite database, model blobs, identity and spooled uploads live here. */
    dataDir: z.string().default('./coordinator-data'),
    /** Bearer token for admin routes and the `/admin` namespace (at least 16 characters). */
    adminToken: z.string().min(16, 'must be at least 16 characters'),
    /** Optional bearer token that may only read (GET routes, `/admin` namespace). */
    readOnlyToken: z.string().min(16, 'must be at least 16 characters').optional(),
    /** HTTPS/WSS when both are set (PEM files). */
    tls: z.object({ cert: z.string(), key: z.string() }).strict().optional(),
    /** Static dashboard folder served at `/` (default: apps/coordinator/public when it exists). */
    publicDir: z.string().optional(),
    chunkSize: z.number().int().min(1024).max(4 * 1024 * 1024).default(DEFAULT_CHUNK_SIZE),
    /** How often the round scheduler looks at experiments (ms). */
    schedulerIntervalMs: z.number().int().positive().default(500),
    logFormat: z.enum(['text', 'json']).default('text'),
    /**
     * socket.io heartbeat: the server pings every `pingIntervalMs` and drops a connection that has not
     * answered within `pingTimeoutMs` more. Tolerant by default (socket.io's own default is 20 s): a
     * site training a large network on its main thread may answer a ping late.
     */
    pingIntervalMs: z.number().int().min(1000).max(600_000).default(25_000),
    pingTimeoutMs: z.number().int().min(1000).max(600_000).default(60_000),
    /**
     * V8 old-generation growing factor, in percent over 1 (`--heap-growing-percent`), that
     * `fedct-coordinator start` sets for its process; 0 leaves V8's default. The coordinator's JS heap
     * is small (≈ 30 MB) while hundreds of MB of update buffers pass through it, and V8's default
     * limits for such a heap made it run a full mark-compact for nearly every 20 MB update (≈ 40 % of
     * its CPU in the coordinator bench). 100 (old-generation limit = 2 × live heap) removes most of
     * that; 200 saves a little more CPU but lets garbage buffers raise the peak RSS by tens of MB.
     */
    heapGrowingPercent: z.number().int().min(0).max(1000).default(100),
    /**
     * A streaming (FedAvg-like) round checkpoints its running sum to disk every this many accepted
     * updates and deletes their spooled envelopes: the spool holds at most this many updates instead
     * of one per site, and a restart re-opens only the updates since the last checkpoint.
     */
    roundCheckpointEvery: z.number().int().min(1).max(1_000_000).default(8),
    /** Worker threads that open and check uploaded updates (0 = on the main thread). */
    verifyWorkers: z.number().int().min(0).max(64).default(Math.min(4, Math.max(1, availableParallelism() - 1))),
    limits: z
      .object({
        /** Largest socket.io message (bytes); chunks must fit. */
        maxMessageBytes: z.number().int().positive().default(2 * 1024 * 1024),
        /** Largest sealed update accepted (bytes). */
        maxUpdateBytes: z.number().int().positive().default(256 * 1024 * 1024),
        /** Uploads in progress at once, over all sites; more are answered `busy`. */
        maxConcurrentUploads: z.number().int().positive().default(32),
        /** Bytes of updates accepted per round, over all sites. */
        maxRoundBytes: z.number().int().positive().default(16 * 1024 * 1024 * 1024),
        /** REST requests per minute per bearer token (or per address without one). */
        requestsPerMinute: z.number().int().positive().default(1200),
        /** Largest `POST /api/models` body (bytes). */
        maxModelBytes: z.number().int().positive().default(512 * 1024 * 1024),
      })
      .strict()
      .default({
        maxMessageBytes: 2 * 1024 * 1024,
        maxUpdateBytes: 256 * 1024 * 1024,
        maxConcurrentUploads: 32,
        maxRoundBytes: 16 * 1024 * 1024 * 1024,
        requestsPerMinute: 1200,
        maxModelBytes: 512 * 1024 * 1024,
      }),
  })
  .strict();

export type CoordinatorConfig = z.output<typeof coordinatorConfigSchema>;
export type CoordinatorConfigInput = z.input<typeof coordinatorConfigSchema>;

/** Injection token of the validated {@link CoordinatorConfig}. */
export const COORDINATOR_CONFIG = Symbol('COORDINATOR_CONFIG');

/**
 * Environment variables that override the file (for the demo and containers):
 * `FEDCT_HOST`, `FEDCT_PORT`, `FEDCT_DATA_DIR`, `FEDCT_ADMIN_TOKEN`, `FEDCT_READONLY_TOKEN`,
 * `FEDCT_TLS_CERT` + `FEDCT_TLS_KEY`, `FEDCT_PUBLIC_DIR`, `FEDCT_LOG_FORMAT`, `FEDCT_VERIFY_WORKERS`,
 * `FEDCT_PING_TIMEOUT_MS`, `FEDCT_HEAP_GROWING_PERCENT`.
 */
export function applyEnvironment(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  if (env.FEDCT_HOST) out.host = env.FEDCT_HOST;
  if (env.FEDCT_PORT) {
    const port = Number(env.FEDCT_PORT);
    if (!Number.isInteger(port)) throw new ConfigError(`Invalid configuration in environment: FEDCT_PORT must be an integer, got "${env.FEDCT_PORT}"`);
    out.port = port;
  }
  if (env.FEDCT_DATA_DIR) out.dataDir = env.FEDCT_DATA_DIR;
  if (env.FEDCT_ADMIN_TOKEN) out.adminToken = env.FEDCT_ADMIN_TOKEN;
  if (env.FEDCT_READONLY_TOKEN) out.readOnlyToken = env.FEDCT_READONLY_TOKEN;
  if (env.FEDCT_TLS_CERT || env.FEDCT_TLS_KEY) out.tls = { cert: env.FEDCT_TLS_CERT ?? '', key: env.FEDCT_TLS_KEY ?? '' };
  if (env.FEDCT_PUBLIC_DIR) out.publicDir = env.FEDCT_PUBLIC_DIR;
  if (env.FEDCT_LOG_FORMAT) out.logFormat = env.FEDCT_LOG_FORMAT;
  if (env.FEDCT_VERIFY_WORKERS) out.verifyWorkers = Number(env.FEDCT_VERIFY_WORKERS);
  if (env.FEDCT_PING_TIMEOUT_MS) out.pingTimeoutMs = Number(env.FEDCT_PING_TIMEOUT_MS);
  if (env.FEDCT_HEAP_GROWING_PERCENT) out.heapGrowingPercent = Number(env.FEDCT_HEAP_GROWING_PERCENT);
  return out;
}

/**
 * Loads the configuration: the file (if given), then the environment on top, validated once.
 * `dataDir` is resolved to an absolute path. Throws a one-line {@link ConfigError}.
 */
export function loadCoordinatorConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): CoordinatorConfig {
  const passthrough = z.record(z.string(), z.unknown());
  const raw = file ? loadConfigFile(passthrough, file) : {};
  const config = parseConfig(coordinatorConfigSchema, applyEnvironment(raw, env), file ?? 'environment');
  return { ...config, dataDir: resolve(config.dataDir) };
}

/** Validates an in-process configuration object (tests, embedding). */
export function resolveCoordinatorConfig(input: CoordinatorConfigInput): CoordinatorConfig {
  const config = parseConfig(coordinatorConfigSchema, input, 'options');
  return { ...config, dataDir: resolve(config.dataDir) };
}
