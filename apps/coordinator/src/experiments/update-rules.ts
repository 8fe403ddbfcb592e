import { countsProblem, NO_BASE_MODEL, type ErrorCode, type EvaluationResultMessage } from '@fedct/protocol';
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

/**
 * The rules an `evaluation.result` must pass (after its schema and its nonce): an open evaluation
 * round, the model and split the task named, a participant's first result, counts that add up.
 */
export function evaluationRefusal(active: ActiveRound | null, m: EvaluationResultMessage, status: SiteRoundStatus | null): { code: ErrorCode; message: string } | null {
  if (!active?.settings.evaluation || active.round !== m.round || active.closing) return { code: 'round_closed', message: `no evaluation ${m.experiment} round ${m.round} is open` };
  const measured = active.base?.ref.sha256 ?? '';
  if (m.classifierSha256 !== measured) return { code: 'rejected_base_model', message: `result is for model ${m.classifierSha256.slice(0, 12)}, the evaluation measures ${measured.slice(0, 12)}` };
  if (m.split !== active.settings.evaluation.split) return { code: 'bad_message', message: `result is for split ${m.split}, the evaluation asked for ${active.settings.evaluation.split}` };
  if (!status) return { code: 'no_task', message: 'this site is not a participant of the evaluation' };
  if (status !== 'invited') return { code: 'rejected_duplicate', message: `this site's result is already ${status}` };
  const problem = countsProblem(m.counts);
  return problem ? { code: 'bad_message', message: problem } : null;
}
