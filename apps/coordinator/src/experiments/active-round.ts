import type { ExperimentSettings, ModelManifest, ModelRef, TensorSpec } from '@fedct/protocol';
import type { Strategy, WeightedSum } from '@fedct/strategies';
import type { SiteRoundStatus } from './experiments.repository';
import type { SecAggDriver } from './secagg.driver';

/**
 * A round in progress, in memory, owned by the round state machine (rounds.service.ts); everything
 * here can be rebuilt from SQLite and the round's spool folder (round-recovery.ts).
 */
export interface ActiveRound {
  experimentId: string;
  round: number;
  settings: ExperimentSettings;
  strategy: Strategy;
  base: { ref: ModelRef; weights: Float32Array; manifest: ModelManifest } | null;
  /** Tensors every update must have: the base model's, or the first accepted update's in round 1 without a base. */
  manifest: ModelManifest | null;
  sum: WeightedSum | null;
  /** Sites folded into `sum`, in order; the first `checkpointed` of them are in the on-disk checkpoint. */
  folded: string[];
  checkpointed: number;
  deadline: number;
  /** The round's spool folder (round-spool.ts). */
  dir: string;
  participants: string[];
  closing: boolean;
  /** Secure-aggregation rounds: the stage driver (the coordinator only ever sees the masked sum). */
  secagg: SecAggDriver | null;
}

/**
 * What the upload transport may know of an open round (read only): whether it takes updates, from
 * whom, and what the verification workers need to check a payload.
 */
export interface RoundAdmission {
  experimentId: string;
  round: number;
  /** False once the round is closing (aggregating, failed, published). */
  accepting: boolean;
  /** The site's result so far (`invited`: its update is awaited), null if it is not a participant. */
  status(siteId: string): SiteRoundStatus | null;
  /** Secure aggregation: payloads are masked vectors, not weights. */
  secure: boolean;
  /** Tensors an update must have (null: round 1 without a base and nothing accepted yet). */
  tensors: TensorSpec[] | null;
  /** The round's base weights (shared memory, read by the verification workers) and norm bound. */
  base: Float32Array | null;
  normBound: number | null;
}
