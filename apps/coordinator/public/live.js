// Live events over socket.io (/admin): each one makes the page re-read only what it affects, debounced.
import { io } from '/vendor/socket.io/socket.io.esm.min.js';
import { setLive, soon } from './api.js';
import { loadAudit } from './audit.js';
import { $ } from './dom.js';
import { progressText } from './experiment-detail.js';
import { isEvaluation, loadEvaluation, loadEvaluations } from './evaluations.js';
import { loadDetail, loadExperiments } from './experiments.js';
import { loadModels } from './models.js';
import { loadSites } from './sites.js';
import { state } from './state.js';

/**
 * An evaluation is an experiment of one round: its events refresh the evaluations instead. Returns
 * whether the event was one. An id the page knows neither way (created elsewhere) refreshes the list.
 */
function evaluationEvent(id) {
  const known = isEvaluation(id);
  if (known || !state.experiments.some((e) => e.id === id)) soon('evaluations', loadEvaluations);
  if (!known) return false;
  if (state.selectedEvaluation === id) soon('evaluation', loadEvaluation);
  soon('audit', loadAudit, 300);
  return true;
}

/**
 * Connects to /admin with the token. `refreshAll` runs after every (re)connect to catch up;
 * `onRejected(message)` signs out when the coordinator refuses the token.
 */
export function connectLive({ refreshAll, onRejected }) {
  state.socket?.disconnect();
  const socket = io('/admin', { auth: { token: state.token }, transports: ['websocket', 'polling'] });
  state.socket = socket;
  setLive('Connecting…', 'pending');
  socket.on('connect', () => {
    setLive('● Live', 'ok');
    soon('all', refreshAll, 0);
  });
  socket.on('disconnect', () => setLive('Connection lost: reconnecting…', 'bad'));
  socket.on('connect_error', (error) => {
    if (/unauthori/i.test(error.message)) onRejected('The coordinator refused the live connection: the token was not accepted.');
    else setLive('Coordinator unreachable: retrying…', 'bad');
  });
  socket.on('round', (event) => {
    state.lastRound.set(event.experiment, event);
    if (evaluationEvent(event.experiment)) return;
    if (state.detail && state.detail.id === event.experiment) {
      $('detail-progress').textContent = progressText(state.detail);
      soon('detail', loadDetail);
    }
    soon('experiments', loadExperiments);
    if (event.state === 'published') soon('models', loadModels);
    soon('audit', loadAudit, 300);
  });
  socket.on('site', () => {
    soon('sites', loadSites);
    soon('audit', loadAudit, 300);
  });
  socket.on('experiment', (event) => {
    if (evaluationEvent(event.experiment)) return;
    soon('experiments', loadExperiments);
    if (state.selected === event.experiment) soon('detail', loadDetail);
    soon('audit', loadAudit, 300);
  });
}
