// Round metrics as an admin reads them: a few headline figures, the raw keys behind a disclosure.
import { niceNumber } from './charts.js';
import { element } from './dom.js';

/** The per-site figures charted for each phase, and their names; `range` fixes the axis. */
export const CHARTED = {
  classifier: [
    { key: 'loss', title: 'Training loss' },
    { key: 'val_accuracy', title: 'Validation accuracy (3 classes)', range: [0, 1] },
  ],
  denoiser: [
    { key: 'loss', title: 'Training loss' },
    { key: 'val_mse', title: 'Validation MSE (denoised vs clean)' },
  ],
};

/** Keys shown in the tables' one-line summaries, with how they read. */
const HEADLINE = [
  ['loss', 'loss'],
  ['val_accuracy', 'val accuracy'],
  ['val_auc_covid', 'val Covid AUC'],
  ['val_mse', 'val MSE'],
  ['sites', 'sites'],
  ['samples', 'samples'],
];

/** "loss 0.42 · val accuracy 0.83", or "–" when none of the headline keys is there. */
export function headline(metrics) {
  const parts = HEADLINE.filter(([key]) => Number.isFinite(metrics?.[key])).map(([key, label]) => `${label} ${niceNumber(metrics[key])}`);
  return parts.length ? parts.join(' · ') : '–';
}

/** "loss 0.42, val_accuracy 0.83, …": every key, sorted. */
export function formatMetrics(metrics) {
  const entries = Object.entries(metrics ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return '–';
  return entries.map(([k, v]) => `${k} ${niceNumber(v)}`).join(', ');
}

/** A table cell: the headline, and every raw key in a closed <details> (nothing when there are none). */
export function metricsCell(metrics) {
  const td = element('td', 'small');
  const keys = Object.keys(metrics ?? {});
  td.append(element('div', '', headline(metrics)));
  if (keys.length === 0) return td;
  const details = element('details', 'raw');
  details.append(element('summary', '', `all ${keys.length} keys`), element('div', 'mono', formatMetrics(metrics)));
  td.append(details);
  return td;
}
