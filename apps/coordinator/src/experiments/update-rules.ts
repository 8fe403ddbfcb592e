import { NO_BASE_MODEL, type ErrorCode } from '@fedct/protocol';
import type { ActiveRound } from './active-round';
import type { SiteRoundStatus } from './experiments.repository';
import { sameTensors } from './update-check';
import type { VerifyOutcome } from './verify.job';

/** Why an update is refused; `markRejected`: the site signed it, so it is out of the round. */
export interface Refusal {
  code: ErrorCode;
  message: string;
  markRejected: boolean;
}

/**
 * The rules an opened update must pass to enter the open round, in order, after its envelope opened
 * with the site's key (`outcome`) and its nonce was not a replay (checked by the caller, which records
 * it): it is for this open round; trained from the round's base; a positive sample count; the site's
 * first result; then the payload (a masked vector under secure aggregation; otherwise tensors as the
 * round's, finite, within the norm bound, which the verification worker measured). Null: accepted.
 */
export function updateRefusal(
  upload: { experimentId: string; round: number },
  active: ActiveRound | null,
  outcome: Extract<VerifyOutcome, { kind: 'opened' }>,
  status: SiteRoundStatus | null,
): Refusal | null {
  const refuse = (code: ErrorCode, message: string, markRejected = false): Refusal => ({ code, message, markRejected });
  const header = outcome.header;
  if (header.experiment !== upload.experimentId || header.round !== upload.round || !active || active.round !== header.round || active.closing) {
    return refuse('rejected_round', `envelope is for ${header.experiment} round ${header.round}, the open round is ${upload.experimentId} round ${active?.round ?? 'none'}`);
  }
  const expectedBase = active.base?.ref.sha256 ?? NO_BASE_MODEL;
  if (header.baseModelSha256 !== expectedBase) return refuse('rejected_base_model', `update was trained from ${header.baseModelSha256.slice(0, 12)}, the round's base is ${expectedBase.slice(0, 12)}`);
  if (!Number.isSafeInteger(header.sampleCount) || header.sampleCount <= 0) return refuse('rejected_envelope', 'sample count must be a positive integer');
  if (status !== 'invited') return refuse('rejected_duplicate', `site's result for this round is already ${status ?? 'absent'}`);
  if (active.secagg) {
    // A masked vector is uniformly random to the coordinator: shapes, finiteness and norms cannot be
    // checked here (clipRange bounds each site's influence instead).
    return outcome.masked ? null : refuse('rejected_envelope', 'expected a masked vector');
  }
  if (outcome.verdict) return refuse(outcome.verdict.code, outcome.verdict.message, true);
  if (!outcome.manifest || !outcome.weights) return refuse('rejected_envelope', 'expected model weights', true);
  // Round 1 without a base: another update may have fixed the tensors while this one was verified.
  if (active.manifest && !sameTensors(outcome.manifest.tensors, active.manifest.tensors)) return refuse('rejected_shape', 'update tensors or shapes differ from the base model', true);
  return null;
}
