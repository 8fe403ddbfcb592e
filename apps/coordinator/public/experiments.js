// Experiments: the list, the opened one (experiment-detail.js), its actions, and starting one.
import { api, attempt } from './api.js';
import { $, badgeCell, button, cell } from './dom.js';
import { renderDetail } from './experiment-detail.js';
import { experimentRequest } from './experiment-form.js';
import { state } from './state.js';

export async function loadExperiments() {
  state.experiments = await api('/api/experiments');
  renderExperiments();
}

function renderExperiments() {
  const body = $('experiments-table').querySelector('tbody');
  body.replaceChildren();
  $('experiments-empty').hidden = state.experiments.length > 0;
  for (const exp of [...state.experiments].reverse()) {
    const row = document.createElement('tr');
    row.dataset.experimentId = exp.id;
    if (exp.id === state.selected) row.className = 'selected';
    const open = cell('');
    open.append(button('Open', () => selectExperiment(exp.id), 'secondary', `Open experiment ${exp.name ?? exp.id}`));
    row.append(cell(exp.name ? `${exp.name} (${exp.id})` : exp.id), cell(exp.phase), badgeCell(exp.status), cell(`${exp.publishedRounds} / ${exp.settings.rounds}`), cell(exp.currentModel ?? '–'), open);
    body.append(row);
  }
}

async function selectExperiment(id, focus = true) {
  state.selected = id;
  await attempt(loadDetail);
  renderExperiments();
  if (focus) $('experiment-detail').focus();
}

export async function loadDetail() {
  if (!state.selected) return;
  state.detail = await api(`/api/experiments/${encodeURIComponent(state.selected)}`);
  renderDetail();
}

async function experimentAction(action) {
  const exp = state.detail;
  if (!exp) return;
  if (action === 'abort' && !window.confirm(`Abort experiment ${exp.name ?? exp.id}? Published model versions are kept.`)) return;
  await attempt(async () => {
    await api(`/api/experiments/${encodeURIComponent(exp.id)}/${action}`, { method: 'POST', body: action === 'abort' ? { reason: 'aborted from the dashboard' } : {} });
    await Promise.all([loadExperiments(), loadDetail()]);
  });
}

async function startExperiment(event) {
  event.preventDefault();
  const body = experimentRequest();
  await attempt(async () => {
    const created = await api('/api/experiments', { method: 'POST', body });
    await loadExperiments();
    await selectExperiment(created.id);
  });
}

/** Forgets the opened experiment (sign-out). */
export function closeExperiment() {
  state.selected = null;
  state.detail = null;
  $('experiment-detail').hidden = true;
}

export function wireExperiments() {
  $('experiment-form').addEventListener('submit', startExperiment);
  $('exp-pause').addEventListener('click', () => experimentAction('pause'));
  $('exp-resume').addEventListener('click', () => experimentAction('resume'));
  $('exp-abort').addEventListener('click', () => experimentAction('abort'));
}
