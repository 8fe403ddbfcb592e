// The admins' dashboard: REST under /api with the admin bearer token, live events over socket.io
// (/admin namespace). Plain ES modules, no build step, every asset served by the coordinator. This
// entry holds the session (sign-in, sign-out, refresh everything) and wires the sections' modules.
import { ApiError, api, attempt, clearError, setRejectedTokenHandler, showError } from './api.js';
import { clearAudit, loadAudit, wireAudit } from './audit.js';
import { $ } from './dom.js';
import { closeEvaluation, loadEvaluation, loadEvaluations, wireEvaluations } from './evaluations.js';
import { closeExperiment, loadDetail, loadExperiments, wireExperiments } from './experiments.js';
import { connectLive } from './live.js';
import { loadModels } from './models.js';
import { loadSites, renderSites, wireSites } from './sites.js';
import { state } from './state.js';

const TOKEN_KEY = 'fedct.adminToken';

async function refreshAll() {
  await Promise.all([loadSites(), loadExperiments(), loadModels(), loadEvaluations(), loadAudit()]);
  await Promise.all([loadDetail(), loadEvaluation()]);
}

function showApp(signedIn) {
  $('sign-in').hidden = signedIn;
  $('app').hidden = !signedIn;
  $('nav').hidden = !signedIn;
  $('sign-out').hidden = !signedIn;
  if (!signedIn) $('live').hidden = true;
}

async function signIn(token) {
  state.token = token;
  clearError();
  try {
    state.sites = await api('/api/sites');
  } catch (error) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    showError(error instanceof ApiError && error.status === 401 ? `Sign-in failed: ${error.message}.` : error.message);
    showApp(false);
    $('token').focus();
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  showApp(true);
  renderSites();
  await attempt(refreshAll);
  connectLive({ refreshAll, onRejected: signOut });
}

function signOut(message) {
  for (const timer of state.timers.values()) clearTimeout(timer);
  state.timers.clear();
  state.socket?.disconnect();
  state.socket = null;
  state.token = null;
  closeExperiment();
  closeEvaluation();
  clearAudit();
  sessionStorage.removeItem(TOKEN_KEY);
  showApp(false);
  if (message) showError(message);
  $('token').value = '';
  $('token').focus();
}

function wire() {
  setRejectedTokenHandler(signOut);
  $('sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('token').value.trim();
    if (token) signIn(token);
  });
  $('sign-out').addEventListener('click', () => signOut());
  wireSites();
  wireExperiments();
  wireEvaluations();
  wireAudit();
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
  else $('token').focus();
}

wire();
window.fedctDashboard = state;
