// Model versions: the registry table (lineage, metrics, sha256), downloads, and the forms' model choices.
import { api, attempt } from './api.js';
import { $, button, cell } from './dom.js';
import { metricsCell } from './metrics.js';
import { state } from './state.js';

/**
 * The model <select>s of the forms and which phases each offers (null: every model); a model without
 * a phase fits every `loose` select. The first <option> of each (the default) is kept.
 */
const CHOICES = [
  { id: 'x-initial', phase: null },
  { id: 'x-denoiser', phase: 'denoiser', loose: true },
  { id: 'e-classifier', phase: 'classifier' },
  { id: 'e-denoiser', phase: 'denoiser', loose: true },
];

export async function loadModels() {
  state.models = await api('/api/models');
  renderModels();
}

/** "v3 ← v2 ← v1" (at most eight versions, then "…"). */
function lineage(model, byVersion) {
  const chain = [model.version];
  let parent = model.parent;
  while (parent && chain.length < 8) {
    chain.push(parent);
    parent = byVersion.get(parent)?.parent ?? null;
  }
  if (parent) chain.push('…');
  return chain.join(' ← ');
}

function label(model) {
  return `${model.version} · ${model.model}${model.phase ? ` (${model.phase})` : ''}`;
}

function renderChoices() {
  for (const { id, phase, loose } of CHOICES) {
    const select = $(id);
    const keep = select.value;
    select.replaceChildren(select.options[0]);
    for (const model of [...state.models].reverse()) {
      if (phase && model.phase !== phase && !(loose && !model.phase)) continue;
      const option = document.createElement('option');
      option.value = model.version;
      option.textContent = label(model);
      select.append(option);
    }
    select.value = keep;
  }
}

function renderModels() {
  const byVersion = new Map(state.models.map((m) => [m.version, m]));
  const body = $('models-table').querySelector('tbody');
  body.replaceChildren();
  $('models-empty').hidden = state.models.length > 0;
  for (const model of [...state.models].reverse()) {
    const row = document.createElement('tr');
    row.dataset.version = model.version;
    const from = model.source === 'upload' ? 'uploaded' : `${model.experiment ?? '?'} round ${model.round ?? '?'}`;
    const sha = cell(`${model.sha256.slice(0, 12)}…`, 'mono');
    sha.title = model.sha256;
    const download = cell('');
    download.append(button('Download', () => downloadModel(model), 'secondary', `Download model ${model.version}`));
    row.append(cell(model.version), cell(`${model.model}${model.phase ? ` (${model.phase})` : ''}`), cell(lineage(model, byVersion), 'small'), cell(from, 'small'), metricsCell(model.metrics), sha, download);
    body.append(row);
  }
  renderChoices();
}

async function downloadModel(model) {
  await attempt(async () => {
    const response = await api(`/api/models/${encodeURIComponent(model.version)}`, { raw: true });
    const blob = await response.blob();
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = `fedct-${model.version}-${model.sha256.slice(0, 12)}.fctm`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  });
}
