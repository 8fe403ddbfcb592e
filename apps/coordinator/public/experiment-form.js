// "Start an experiment": every setting of POST /api/experiments, sent as the coordinator names them.
import { $ } from './dom.js';
import { numberField } from './api.js';

/** The request body from the form; empty fields are left out (the coordinator's defaults apply). */
export function experimentRequest() {
  const strategy = $('x-strategy').value;
  const body = {
    phase: $('x-phase').value,
    rounds: numberField('x-rounds'),
    minSites: numberField('x-min-sites'),
    fractionFit: numberField('x-fraction'),
    localEpochs: numberField('x-epochs'),
    batchSize: numberField('x-batch'),
    learningRate: numberField('x-lr'),
    learningRateSchedule: $('x-lr-schedule').value,
    classBalanced: $('x-balanced').checked,
    flipAugment: $('x-flip').checked,
    strategy,
    roundDeadlineSeconds: numberField('x-deadline'),
    initSeed: numberField('x-seed'),
    secureAgg: $('x-secagg').checked,
  };
  const name = $('x-name').value.trim();
  if (name) body.name = name;
  if ($('x-initial').value) body.initialModel = $('x-initial').value;
  if ($('x-denoiser').value) body.denoiserModel = $('x-denoiser').value;
  const strategyOptions = {};
  const mu = numberField('x-mu');
  if (strategy === 'fedprox' && mu !== undefined) strategyOptions.proximalMu = mu;
  const serverLr = numberField('x-server-lr');
  if ((strategy === 'fedadam' || strategy === 'fedyogi') && serverLr !== undefined) strategyOptions.serverLearningRate = serverLr;
  const trim = numberField('x-trim');
  if (strategy === 'trimmed-mean' && trim !== undefined) strategyOptions.trimFraction = trim;
  if (Object.keys(strategyOptions).length > 0) body.strategyOptions = strategyOptions;
  const secAggClip = numberField('x-secagg-clip');
  if (body.secureAgg && secAggClip !== undefined) body.secAggClipRange = secAggClip;
  const norm = numberField('x-norm');
  if (norm !== undefined) body.normBound = norm;
  if ($('x-dp').checked) {
    body.dp = { required: true };
    const clip = numberField('x-clip');
    const noise = numberField('x-noise');
    if (clip !== undefined) body.dp.clipNorm = clip;
    if (noise !== undefined) body.dp.noiseMultiplier = noise;
  }
  for (const [key, value] of Object.entries(body)) if (value === undefined) delete body[key];
  return body;
}
