// Evaluations: the list, starting one from the form, and the opened one (evaluation-view.js).
import { api, attempt } from './api.js';
import { $, badgeCell, button, cell } from './dom.js';
import { evaluationRequest } from './evaluation-form.js';
import { renderEvaluation } from './evaluation-view.js';
import { state } from './state.js';

export async function loadEvaluations() {
  state.evaluations = await api('/api/evaluations');
  renderEvaluations();
}

function renderEvaluations() {
  const body = $('evaluations-table').querySelector('tbody');
  body.replaceChildren();
  $('evaluations-empty').hidden = state.evaluations.length > 0;
  for (const view of [...state.evaluations].reverse()) {
    const row = document.createElement('tr');
    row.dataset.evaluationId = view.id;
    if (view.id === state.selectedEvaluation) row.className = 'selected';
    const answered = view.sites.filter((s) => s.summary).length;
    const open = cell('');
    open.append(button('Open', () => selectEvaluation(view.id), 'secondary', `Open evaluation ${view.name ?? view.id}`));
    row.append(cell(view.name ? `${view.name} (${view.id})` : view.id), cell(view.classifier.version), cell(view.split), badgeCell(view.status), cell(`${answered} of ${view.sites.length}`), cell(new Date(view.createdAt).toLocaleString(), 'small'), open);
    body.append(row);
  }
}

/** Whether an event about this id concerns an evaluation this page lists or shows. */
export function isEvaluation(id) {
  return id === state.selectedEvaluation || state.evaluations.some((e) => e.id === id);
}

async function selectEvaluation(id, focus = true) {
  state.selectedEvaluation = id;
  await attempt(loadEvaluation);
  renderEvaluations();
  if (focus) $('evaluation-detail').focus();
}

export async function loadEvaluation() {
  if (!state.selectedEvaluation) return;
  state.evaluation = await api(`/api/evaluations/${encodeURIComponent(state.selectedEvaluation)}`);
  renderEvaluation(state.evaluation);
}

async function startEvaluation(event) {
  event.preventDefault();
  const body = evaluationRequest();
  await attempt(async () => {
    const created = await api('/api/evaluations', { method: 'POST', body });
    await loadEvaluations();
    await selectEvaluation(created.id);
  });
}

/** Forgets the opened evaluation (sign-out). */
export function closeEvaluation() {
  state.selectedEvaluation = null;
  state.evaluation = null;
  $('evaluation-detail').hidden = true;
}

export function wireEvaluations() {
  $('evaluation-form').addEventListener('submit', startEvaluation);
}
