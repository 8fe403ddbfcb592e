/**
 * Request and response bodies of the coordinator's REST API (`/api`), shared with the site agent
 * (enrolment) and the demo (experiments, models). Admin routes need `Authorization: Bearer <token>`
 * (the admin token; GET routes also accept the read-only token). `POST /api/enroll` is authorised by
 * the one-time enrolment token in its body.
 */
import { z } from 'zod';
import { evaluationSplitSchema, type EvaluationSplit, type EvaluationSummary } from './evaluation';
import { dpRequirementsSchema, learningRateScheduleSchema, phaseSchema, strategyNameSchema } from './messages';

/** `POST /api/enrollment-tokens` body. */
export const createEnrollmentTokenSchema = z.object({
  siteName: z.string().min(1).max(100),
  /** Lifetime of the token in seconds (default 24 h). */
  ttlSeconds: z.number().int().positive().max(30 * 24 * 3600).default(24 * 3600),
});
export interface EnrollmentTokenResult {
  token: string;
  siteName: string;
  expiresAt: string;
}

/** `POST /api/enroll` body: the site presents the one-time token and its public keys (base64). */
export const enrollRequestSchema = z.object({
  token: z.string().min(1),
  signingPublicKey: z.string().min(1),
  boxPublicKey: z.string().min(1),
});
export type EnrollRequest = z.infer<typeof enrollRequestSchema>;
export interface EnrollResult {
  siteId: string;
  siteName: string;
  /** The coordinator's public keys (base64): the site pins them. */
  coordinator: { signingPublicKey: string; boxPublicKey: string; fingerprint: string };
}

/** `POST /api/experiments` body. */
export const createExperimentSchema = z.object({
  name: z.string().max(200).optional(),
  phase: phaseSchema,
  rounds: z.number().int().positive().max(10_000),
  localEpochs: z.number().int().positive().default(1),
  batchSize: z.number().int().positive().default(4),
  learningRate: z.number().positive().default(1e-3),
  /** `cosine`: each round's learning rate falls from `learningRate` to a tenth of it by the last round. */
  learningRateSchedule: learningRateScheduleSchema.default('constant'),
  /**
   * Classifier phase: sites draw every class as often as their largest one in each local epoch
   * (counters label skew between hospitals; not in the paper).
   */
  classBalanced: z.boolean().default(false),
  /** Classifier phase: sites mirror training volumes left-right at random (seeded; not in the paper). */
  flipAugment: z.boolean().default(false),
  /** Quorum: a round publishes only with at least this many accepted updates. */
  minSites: z.number().int().positive().default(1),
  /** Fraction of online sites invited per round (at least `minSites`). */
  fractionFit: z.number().positive().max(1).default(1),
  /** Round deadline in seconds from the round's start. */
  roundDeadlineSeconds: z.number().positive().max(7 * 24 * 3600).default(600),
  /** Seconds to wait for `minSites` sites to be online before a round starts. */
  waitForSitesSeconds: z.number().positive().default(3600),
  strategy: strategyNameSchema.default('fedavg'),
  /** FedProx μ; FedAdam/FedYogi server learning rate η, β1, β2, τ; trimmed-mean fraction β. */
  strategyOptions: z
    .object({
      proximalMu: z.number().nonnegative().optional(),
      serverLearningRate: z.number().positive().optional(),
      beta1: z.number().min(0).max(1).optional(),
      beta2: z.number().min(0).max(1).optional(),
      tau: z.number().positive().optional(),
      trimFraction: z.number().min(0).max(0.49).optional(),
    })
    .default({}),
  secureAgg: z.boolean().default(false),
  /** Secure aggregation: each delta value is clipped to ±clipRange before quantising. */
  secAggClipRange: z.number().positive().default(1),
  /** Secure aggregation: seconds each key/consistency/unmask stage waits before counting sites as dropped. */
  secAggStageSeconds: z.number().positive().default(60),
  /** Secure aggregation: upper bound on the sum of all sites' sample counts (sets the fixed-point scale). */
  secAggMaxTotalWeight: z.number().int().positive().default(100_000),
  dp: dpRequirementsSchema.default({ required: false }),
  /** Maximum L2 norm of an update (new − base); larger updates are rejected. */
  normBound: z.number().positive().nullable().default(null),
  /** Registry version of the starting model; absent = round 1 starts from `initSeed` on every site. */
  initialModel: z.string().optional(),
  initSeed: z.number().int().nonnegative().default(0),
  /**
   * Network sizes for round 1 without an initial model, sent to every site in the task (e.g. the
   * pipeline's `BcduNetConfig` / `Cnn3dConfig`). Opaque to the coordinator. Absent = each site's profile.
   */
  modelConfig: z.record(z.string(), z.unknown()).optional(),
  /** Classifier phase: the frozen BCDU-Net version sites run (required for `classifier`). */
  denoiserModel: z.string().optional(),
  /** How many times a failed round is re-run before the experiment stops. */
  maxRoundRetries: z.number().int().nonnegative().default(2),
  /** Only these sites take part (site ids); absent = every enrolled site. */
  sites: z.array(z.string().min(1).max(100)).min(1).max(10_000).optional(),
});
export type CreateExperiment = z.input<typeof createExperimentSchema>;
/**
 * An experiment's stored settings. `evaluation` marks a federated evaluation (created by
 * `POST /api/evaluations`, never by `POST /api/experiments`): one round in which every chosen site
 * measures `initialModel` on `split`.
 */
export type ExperimentSettings = z.output<typeof createExperimentSchema> & { evaluation?: { split: EvaluationSplit } };

/** `POST /api/evaluations` body: measure a published classifier at chosen sites (or all). */
export const createEvaluationSchema = z
  .object({
    classifierVersion: z.string().min(1).max(100),
    /** The frozen denoiser; default: the one the classifier's experiment was trained with. */
    denoiserVersion: z.string().min(1).max(100).optional(),
    /** Site ids; absent = every enrolled, not revoked site. */
    sites: z.array(z.string().min(1).max(100)).min(1).max(10_000).optional(),
    split: evaluationSplitSchema.default('val'),
    /** Seconds the sites have to answer; then the evaluation completes with those that did. */
    deadlineSeconds: z.number().positive().max(7 * 24 * 3600).default(3600),
    name: z.string().max(200).optional(),
  })
  .strict();
export type CreateEvaluation = z.input<typeof createEvaluationSchema>;

/** One site's part of an evaluation, as `GET /api/evaluations/:id` shows it. */
export interface EvaluationSiteView {
  siteId: string;
  siteName: string;
  /** `accepted` (measured), `failed` (refused or could not; see reason), `dropped` (no answer before the deadline), `invited` (waiting). */
  status: string;
  reason: string | null;
  summary: EvaluationSummary | null;
}

/** `GET /api/evaluations/:id`. */
export interface EvaluationView {
  id: string;
  name: string | null;
  status: string;
  classifier: { version: string; sha256: string };
  denoiser: { version: string; sha256: string };
  split: EvaluationSplit;
  createdAt: string;
  deadline: string | null;
  sites: EvaluationSiteView[];
  /** Over the sites that answered (their counts summed); null when none did. */
  pooled: EvaluationSummary | null;
  /** Sites that did not answer, with why. */
  missing: { siteId: string; siteName: string; status: string; reason: string | null }[];
}

/** `POST /api/sites/:id/revoke` body. */
export const revokeSiteSchema = z.object({ reason: z.string().max(500).default('revoked by admin') });
