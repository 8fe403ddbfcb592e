/**
 * The wire contract between the coordinator and site agents: one typed socket.io event map for the
 * `/sites` namespace, one for the admin namespace `/admin`, zod schemas for every message, and the
 * reply shape of every acknowledgement. One file on purpose (about 400 lines, declarations only):
 * both sides must agree on all of it, and the session below is read beside the schemas it uses.
 *
 * ## Session (namespace `/sites`)
 * 1. The site connects (socket.io over HTTP(S)) and calls `challenge` → `{ challenge }` (32 random
 *    bytes, base64, valid for {@link CHALLENGE_TTL_MS}, single use).
 * 2. It signs {@link authMessage}(challenge, siteId) with its enrolled Ed25519 key and calls
 *    `auth { siteId, signature }` → {@link AuthResult}. Until then every other event is answered
 *    `{ ok: false, code: 'unauthenticated' }`; a connection that does not authenticate within
 *    {@link AUTH_TIMEOUT_MS} is closed. Unenrolled, revoked or wrongly-signed sites are refused
 *    (`unknown_site`, `revoked`, `bad_signature`) and disconnected.
 * 3. The site sends `heartbeat` every {@link HEARTBEAT_INTERVAL_MS} with its backend, GPU flag and
 *    dataset counts (counts only, never data).
 * 4. The coordinator pushes `task` when a round needs the site, and `task.cancel` when a round ends
 *    without it. After a reconnect the site calls `task.current` to resume.
 * 5. The site downloads the base model with `model.manifest` + `model.chunk` (any order, resumable by
 *    chunk index; every chunk's sha256 is in the manifest, the whole blob's sha256 is the model's id).
 * 6. The site uploads its update: a sealed envelope (@fedct/crypto `seal`, header signed by the site,
 *    payload = an encoded model blob with the site's new weights, encrypted to the coordinator's box
 *    key) split into chunks. `update.begin` (manifest) → `{ uploadId, nextIndex }`; `update.chunk`
 *    → `{ nextIndex }`; `update.commit` → accepted, or `{ ok: false, code: 'rejected_*' }`.
 *    Calling `update.begin` again with the same manifest resumes: `nextIndex` is the first chunk the
 *    coordinator does not yet hold (also after a coordinator restart).
 *    A site that cannot train replies with `task.fail` so the round need not wait for it.
 *
 * 7. An `evaluate` task (federated evaluation) asks the site to measure a classifier on one split of
 *    its studies; the site answers `evaluation.result` with aggregate counts only (evaluation.ts), or
 *    `task.fail` when its policy refuses.
 * 8. When a round publishes a model version, the coordinator pushes `model.published`
 *    ({@link PublishedModel}) to every authenticated site, and the auth reply carries the latest published
 *    version per phase ({@link AuthResult.latestModels}), so a site that was offline catches up. Sites
 *    fetch it with `model.manifest` + `model.chunk` like a base model.
 *
 * Binary fields (`bytes`) travel as socket.io binary attachments (Buffer / Uint8Array), not base64.
 * Every inbound message is validated with the schemas below; every acknowledgement is a {@link Reply}.
 */
import { z } from 'zod';
import { EVALUATION_BINS, evaluationSplitSchema, type EvaluationResultMessage } from './evaluation';

/** How long a challenge may be answered (ms). */
export const CHALLENGE_TTL_MS = 30_000;
/** A connection that has not authenticated after this long is closed. */
export const AUTH_TIMEOUT_MS = 10_000;
/** How often a site agent should send `heartbeat`. */
export const HEARTBEAT_INTERVAL_MS = 15_000;
/** Default chunk size for model downloads and update uploads (bytes). */
export const DEFAULT_CHUNK_SIZE = 512 * 1024;
/** `baseModelSha256` in an envelope header for a round whose task had `baseModel: null` (64 zeros). */
export const NO_BASE_MODEL = '0'.repeat(64);
/** The socket.io namespace sites connect to. */
export const SITES_NAMESPACE = '/sites';
/** The socket.io namespace the dashboard subscribes to (handshake `auth: { token }`). */
export const ADMIN_NAMESPACE = '/admin';

/**
 * The exact bytes a site signs to answer a challenge: UTF-8 of
 * `fedct-auth-v1\n<challenge base64>\n<siteId>`.
 */
export function authMessage(challenge: string, siteId: string): Uint8Array {
  return new Uint8Array(Buffer.from(`fedct-auth-v1\n${challenge}\n${siteId}`, 'utf8'));
}

// ---------------------------------------------------------------------------------------------
// Replies

/** Error codes a reply can carry. `rejected_*` codes are update rejections (audited). */
export const errorCodes = [
  'bad_message',
  'unauthenticated',
  'unknown_site',
  'revoked',
  'bad_signature',
  'expired_challenge',
  'not_found',
  'no_task',
  'busy',
  'too_large',
  'bad_chunk',
  'incomplete',
  'round_closed',
  'rejected_envelope',
  'rejected_site',
  'rejected_replay',
  'rejected_round',
  'rejected_base_model',
  'rejected_shape',
  'rejected_non_finite',
  'rejected_norm',
  'rejected_duplicate',
  'internal',
  // Client side only (a site's own request helper; the coordinator never sends them): no answer.
  'timeout',
  'disconnected',
] as const;
export type ErrorCode = (typeof errorCodes)[number];

/** Every acknowledgement: `{ ok: true, data }` or `{ ok: false, code, message }` (message: one line). */
export type Reply<T> = { ok: true; data: T } | { ok: false; code: ErrorCode; message: string };
/** An acknowledgement callback. */
export type Ack<T> = (reply: Reply<T>) => void;

/** Builds a success reply. */
export function ok<T>(data: T): Reply<T> {
  return { ok: true, data };
}
/** Builds a failure reply. */
export function fail<T = never>(code: ErrorCode, message: string): Reply<T> {
  return { ok: false, code, message };
}

// ---------------------------------------------------------------------------------------------
// Shared shapes

const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'expected a hex sha256');
const bytesSchema = z.custom<Uint8Array>((value) => value instanceof Uint8Array, 'expected binary bytes');

/** A model as a task names it. `version` is the registry's version string (e.g. `v3`). */
export const modelRefSchema = z.object({ version: z.string().min(1), sha256: sha256Schema, bytes: z.number().int().positive() });
export type ModelRef = z.infer<typeof modelRefSchema>;

/** Same shape as @fedct/crypto `ChunkManifest`. */
export const chunkManifestSchema = z.object({
  totalBytes: z.number().int().nonnegative(),
  chunkSize: z.number().int().positive(),
  count: z.number().int().nonnegative(),
  sha256: sha256Schema,
  chunkSha256: z.array(sha256Schema),
});
export type ChunkManifestMessage = z.infer<typeof chunkManifestSchema>;

export const phaseSchema = z.enum(['denoiser', 'classifier']);
export type Phase = z.infer<typeof phaseSchema>;

export const strategyNameSchema = z.enum(['fedavg', 'fedprox', 'fedadam', 'fedyogi', 'trimmed-mean', 'median']);
export type StrategyName = z.infer<typeof strategyNameSchema>;

/** How the sites' learning rate changes over an experiment's rounds. */
export const learningRateScheduleSchema = z.enum(['constant', 'cosine']);
export type LearningRateSchedule = z.infer<typeof learningRateScheduleSchema>;

/**
 * The learning rate of round `round` (1-based) of `rounds`: `base` throughout (`constant`), or a half
 * cosine from `base` in the first round down to `base` / 10 in the last (`cosine`). Rounds past the
 * last (retries never add rounds, but be safe) keep the last round's rate.
 */
export function scheduledLearningRate(base: number, schedule: LearningRateSchedule, round: number, rounds: number): number {
  if (schedule === 'constant' || rounds < 2) return base;
  const progress = Math.min(1, Math.max(0, (round - 1) / (rounds - 1)));
  return base * (0.1 + 0.45 * (1 + Math.cos(Math.PI * progress)));
}

/** Differential-privacy requirements of an experiment; sites enforce them (and may be stricter). */
export const dpRequirementsSchema = z.object({
  required: z.boolean().default(false),
  /** L2 clip of the update (new weights − base) before noise. */
  clipNorm: z.number().positive().optional(),
  /** Gaussian noise stddev = noiseMultiplier × clipNorm. */
  noiseMultiplier: z.number().nonnegative().optional(),
  /** The site must stop contributing once its ε (at `delta`) would exceed this. */
  maxEpsilon: z.number().positive().optional(),
  delta: z.number().positive().max(1).optional(),
});
export type DpRequirements = z.infer<typeof dpRequirementsSchema>;

/** Hyper-parameters sent with each task. */
export const hyperParametersSchema = z.object({
  localEpochs: z.number().int().positive(),
  batchSize: z.number().int().positive(),
  learningRate: z.number().positive(),
  /** FedProx proximal term μ; absent for other strategies. */
  proximalMu: z.number().nonnegative().optional(),
  /** Classifier phase: class-balanced local epochs (each class drawn as often as the largest). */
  classBalanced: z.boolean().optional(),
  /** Classifier phase: seeded left-right mirroring of training volumes. */
  flipAugment: z.boolean().optional(),
  dp: dpRequirementsSchema,
  secureAgg: z.boolean(),
});
export type HyperParameters = z.infer<typeof hyperParametersSchema>;

/**
 * Public parameters of a secure-aggregation round; the same shape as @fedct/crypto `SecAggParams`
 * (sites: site id → enrolled Ed25519 public key, base64).
 */
export const secAggParamsSchema = z.object({
  experiment: z.string(),
  round: z.number().int(),
  sites: z.record(z.string(), z.string()),
  neighbours: z.number().int().nonnegative(),
  threshold: z.number().int().positive(),
  vectorLength: z.number().int().positive(),
  clipRange: z.number().positive(),
  maxTotalWeight: z.number().int().positive(),
  graphSeed: z.string(),
});
export type SecAggParamsMessage = z.infer<typeof secAggParamsSchema>;

/**
 * A training task for one round. `baseModel: null` means "round 1 without an initial model": every site
 * initialises the network with `initSeed` (same seed everywhere, so the weights agree) and signs its
 * envelope with `baseModelSha256 = NO_BASE_MODEL`. For the classifier phase, `denoiser` names the frozen
 * global BCDU-Net the site must run to extract infection volumes.
 */
export const taskSchema = z.object({
  experiment: z.string().min(1),
  phase: phaseSchema,
  round: z.number().int().positive(),
  baseModel: modelRefSchema.nullable(),
  initSeed: z.number().int().nonnegative(),
  denoiser: modelRefSchema.nullable(),
  hyper: hyperParametersSchema,
  /** ISO time after which the update is no longer accepted. */
  deadline: z.string(),
  /** Maximum L2 norm of (new weights − base) the coordinator accepts; null = no bound. */
  normBound: z.number().positive().nullable(),
  /** Upload chunk size the coordinator expects. */
  chunkSize: z.number().int().positive(),
  /**
   * Network sizes to build the model from when `baseModel` is null (the experiment's `modelConfig`, the
   * same record a model blob's manifest carries as `config`). Opaque to the coordinator; absent = each
   * site uses its own profile's sizes.
   */
  modelConfig: z.record(z.string(), z.unknown()).optional(),
  /**
   * Present when the round uses secure aggregation (see {@link SECAGG_SITE_EVENTS}): the site runs the
   * @fedct/crypto SecAgg stages and uploads, instead of its weights, the masked vector of its
   * **delta** (new weights − base, clipped to ±clipRange, weighted by its sample count).
   */
  secAgg: secAggParamsSchema.optional(),
  /**
   * `evaluate` (federated evaluation, no training and no upload): the site measures `baseModel` (a
   * classifier, with the frozen `denoiser` it was trained with) on its `evaluation.split` and answers
   * with `evaluation.result` (aggregate counts only, evaluation.ts). Absent = `train`.
   */
  kind: z.enum(['train', 'evaluate']).optional(),
  evaluation: z.object({ split: evaluationSplitSchema, bins: z.literal(EVALUATION_BINS) }).optional(),
});
export type Task = z.infer<typeof taskSchema>;

/**
 * A model version a round published (pushed as `model.published`, and per phase in the auth reply).
 * `experiment` is null for a version that did not come from an experiment.
 */
export const publishedModelSchema = modelRefSchema.extend({ phase: phaseSchema, experiment: z.string().nullable() });
export type PublishedModel = z.infer<typeof publishedModelSchema>;

// ---------------------------------------------------------------------------------------------
// Site → coordinator payloads

export const authRequestSchema = z.object({ siteId: z.string().min(1), signature: z.string().min(1) });
export type AuthRequest = z.infer<typeof authRequestSchema>;

/** The compute backend a site trains on (`native`: wasm with oneDNN convolutions). */
export const backendSchema = z.enum(['native', 'wasm', 'tensorflow', 'tensorflow-gpu', 'cpu']);
export type BackendKind = z.infer<typeof backendSchema>;
export const heartbeatSchema = z.object({
  backend: backendSchema,
  gpu: z.boolean(),
  /** Study counts per class / split (counts only). */
  datasets: z.record(z.string(), z.number().int().nonnegative()),
  agentVersion: z.string().optional(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

export const modelManifestRequestSchema = z.object({ sha256: sha256Schema });
export const modelChunkRequestSchema = z.object({ sha256: sha256Schema, index: z.number().int().nonnegative() });

export const updateBeginSchema = z.object({
  experiment: z.string().min(1),
  round: z.number().int().positive(),
  manifest: chunkManifestSchema,
});
export type UpdateBegin = z.infer<typeof updateBeginSchema>;
export const updateChunkSchema = z.object({ uploadId: z.string().min(1), index: z.number().int().nonnegative(), bytes: bytesSchema });
export type UpdateChunk = z.infer<typeof updateChunkSchema>;
export const updateCommitSchema = z.object({ uploadId: z.string().min(1) });
export const taskFailSchema = z.object({ experiment: z.string().min(1), round: z.number().int().positive(), reason: z.string().max(500) });

/**
 * Secure aggregation over `/sites` (rounds whose task carries `secAgg`), using @fedct/crypto's
 * `SECAGG_EVENTS` names. Stage messages are the crypto library's JSON types, checked there.
 * 1. On the task the site calls `advertiseKeys` and emits `secagg:advertise-keys` (AdvertiseKeysMessage).
 * 2. The coordinator emits `secagg:share-keys` (ShareKeysRequest); the site answers the same event
 *    with `shareKeys`' ShareKeysMessage.
 * 3. The coordinator emits `secagg:masked-input` (MaskedInputRequest); the site trains, calls
 *    `maskedInput` with its delta and uploads the masked vector bytes as the payload of an ordinary
 *    sealed update (`update.begin/chunk/commit`).
 * 4. The coordinator emits `secagg:consistency-check` (ConsistencyCheckRequest); the site answers with
 *    ConsistencyCheckMessage.
 * 5. The coordinator emits `secagg:unmask` (UnmaskRequest); the site answers with UnmaskMessage.
 * A stage not answered before its timeout counts the site as dropped at that stage.
 */
export const SECAGG_SITE_EVENTS = {
  advertiseKeys: 'secagg:advertise-keys',
  shareKeys: 'secagg:share-keys',
  maskedInput: 'secagg:masked-input',
  consistencyCheck: 'secagg:consistency-check',
  unmask: 'secagg:unmask',
} as const;

/** Minimal shape check of a SecAgg stage message (the crypto library validates the rest). */
export const secAggMessageSchema = z
  .object({ stage: z.string(), experiment: z.string(), round: z.number().int(), site: z.string() })
  .passthrough();
export type SecAggMessage = z.infer<typeof secAggMessageSchema>;

// ---------------------------------------------------------------------------------------------
// Results

export interface ChallengeResult {
  challenge: string;
}
export interface AuthResult {
  siteId: string;
  siteName: string;
  coordinator: { signingPublicKey: string; boxPublicKey: string };
  /** The latest model version published by a round, per phase (null: none yet). */
  latestModels: Record<Phase, PublishedModel | null>;
}
export interface ModelChunk {
  index: number;
  bytes: Uint8Array;
}
export interface UploadState {
  uploadId: string;
  /** First chunk index the coordinator does not hold; `null` when all are there (call `update.commit`). */
  nextIndex: number | null;
}
export interface CommitResult {
  accepted: true;
  experiment: string;
  round: number;
}

/** Events a site emits (all with an acknowledgement). */
export interface SiteToCoordinatorEvents {
  challenge: (payload: Record<string, never>, ack: Ack<ChallengeResult>) => void;
  auth: (payload: AuthRequest, ack: Ack<AuthResult>) => void;
  heartbeat: (payload: Heartbeat, ack: Ack<{ time: string }>) => void;
  'task.current': (payload: Record<string, never>, ack: Ack<Task | null>) => void;
  'task.fail': (payload: z.infer<typeof taskFailSchema>, ack: Ack<{ recorded: true }>) => void;
  'model.manifest': (payload: z.infer<typeof modelManifestRequestSchema>, ack: Ack<ChunkManifestMessage>) => void;
  'model.chunk': (payload: z.infer<typeof modelChunkRequestSchema>, ack: Ack<ModelChunk>) => void;
  'update.begin': (payload: UpdateBegin, ack: Ack<UploadState>) => void;
  'update.chunk': (payload: UpdateChunk, ack: Ack<UploadState>) => void;
  'update.commit': (payload: z.infer<typeof updateCommitSchema>, ack: Ack<CommitResult>) => void;
  'secagg:advertise-keys': (payload: SecAggMessage, ack: Ack<{ received: true }>) => void;
  'secagg:share-keys': (payload: SecAggMessage, ack: Ack<{ received: true }>) => void;
  'secagg:consistency-check': (payload: SecAggMessage, ack: Ack<{ received: true }>) => void;
  'secagg:unmask': (payload: SecAggMessage, ack: Ack<{ received: true }>) => void;
  /** The counts of an `evaluate` task (see evaluation.ts). */
  'evaluation.result': (payload: EvaluationResultMessage, ack: Ack<{ recorded: true }>) => void;
}

/** Events the coordinator pushes to a site. */
export interface CoordinatorToSiteEvents {
  task: (task: Task) => void;
  'task.cancel': (payload: { experiment: string; round: number; reason: string }) => void;
  revoked: (payload: { reason: string }) => void;
  /** A round published this model version (sent to every authenticated site). */
  'model.published': (model: PublishedModel) => void;
  /** SecAgg stage requests (payloads are @fedct/crypto ShareKeysRequest, MaskedInputRequest, ...). */
  'secagg:share-keys': (request: Record<string, unknown>) => void;
  'secagg:masked-input': (request: Record<string, unknown>) => void;
  'secagg:consistency-check': (request: Record<string, unknown>) => void;
  'secagg:unmask': (request: Record<string, unknown>) => void;
}

// ---------------------------------------------------------------------------------------------
// Admin namespace (dashboard): push only.

export type RoundState = 'open' | 'training' | 'aggregating' | 'published' | 'failed';

export interface RoundEvent {
  experiment: string;
  round: number;
  attempt: number;
  state: RoundState;
  participants: string[];
  accepted: number;
  modelVersion: string | null;
  reason: string | null;
}
export interface SiteEvent {
  siteId: string;
  siteName: string;
  event: 'online' | 'offline' | 'heartbeat' | 'enrolled' | 'revoked' | 'update_accepted' | 'update_rejected';
  detail?: string;
}
export interface ExperimentEvent {
  experiment: string;
  status: string;
}

/** Events the coordinator pushes on `/admin`. */
export interface CoordinatorToAdminEvents {
  round: (event: RoundEvent) => void;
  site: (event: SiteEvent) => void;
  experiment: (event: ExperimentEvent) => void;
}

/** The admin namespace takes no events from clients. */
export type AdminToCoordinatorEvents = Record<string, never>;
