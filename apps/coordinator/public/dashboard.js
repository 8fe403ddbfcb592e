// The admins' dashboard: REST under /api with the admin bearer token, live events over socket.io
// (/admin namespace). Plain ES modules, no build step, every asset served by the coordinator.
import { io } from '/vendor/socket.io/socket.io.esm.min.js';
import { lineChart } from '/charts.js';

const TOKEN_KEY = 'fedct.adminToken';
const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  socket: null,
  sites: [],
  experiments: [],
  models: [],
  selected: null,
  detail: null,
  lastRound: new Map(),
  auditAfter: 0,
  timers: new Map(),
};

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// ---------------------------------------------------------------------------------------------
// Messages

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

function setLive(text, kind) {
  const live = $('live');
  live.hidden = false;
  live.textContent = text;
  live.dataset.kind = kind;
}

// ---------------------------------------------------------------------------------------------
// REST

async function api(path, { method = 'GET', body, raw = false } = {}) {
  const token = state.token;
  if (!token) throw new ApiError('signed out', -1);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiError(`The coordinator at ${location.origin} is not reachable. Is it running?`, 0);
  }
  // The answer to a request made with a token that is no longer in use (signed out or another one).
  if (token !== state.token) throw new ApiError('signed out', -1);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const data = await response.json();
      message = data.message ?? data.error?.message ?? message;
      if (Array.isArray(message)) message = message.join('; ');
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(message, response.status);
  }
  if (raw) return response;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** Runs an action; shows its error in the alert box; signs out on a rejected token. */
/**
 * Runs an action and shows its failure in one line. A user's action clears the previous message first;
 * background refreshes (`{ background: true }`) leave it, so a refusal stays readable while events arrive.
 */
async function attempt(action, { background = false } = {}) {
  try {
    if (!background) clearError();
    return await action();
  } catch (error) {
    if (error instanceof ApiError && error.status === -1) return undefined;
    if (error instanceof ApiError && error.status === 401) {
      signOut(`The token was not accepted (${error.message}). Sign in again.`);
    } else {
      showError(error.message);
    }
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting helpers

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function ago(iso) {
  if (!iso) return 'never';
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleString();
}

function formatMetrics(metrics) {
  const entries = Object.entries(metrics ?? {});
  if (entries.length === 0) return '–';
  return entries.map(([k, v]) => `${k} ${Number(v.toPrecision(4))}`).join(', ');
}

function button(label, onClick, className = 'secondary', ariaLabel) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.className = className;
  if (ariaLabel) b.setAttribute('aria-label', ariaLabel);
  b.addEventListener('click', onClick);
  return b;
}

/** Debounces refreshes triggered by pushed events (no polling loop). */
function soon(key, fn, delay = 120) {
  clearTimeout(state.timers.get(key));
  state.timers.set(key, setTimeout(() => attempt(fn, { background: true }), delay));
}

// ---------------------------------------------------------------------------------------------
// Sites

async function loadSites() {
  state.sites = await api('/api/sites');
  renderSites();
}

/** "12 studies, 3000 slices (control 4, cap 4, covid-19 4; train 8, val 2, test 2)", or the raw counts. */
function formatCounts(datasets) {
  if (!datasets) return '–';
  const { studies, slices, ...rest } = datasets;
  const labels = ['control', 'cap', 'covid-19'].filter((k) => k in rest).map((k) => `${k} ${rest[k]}`);
  const splits = ['train', 'val', 'test'].filter((k) => k in rest).map((k) => `${k} ${rest[k]}`);
  const known = new Set(['control', 'cap', 'covid-19', 'train', 'val', 'test']);
  const other = Object.entries(rest).filter(([k]) => !known.has(k)).map(([k, v]) => `${k} ${v}`);
  const head = [studies !== undefined ? `${studies} studies` : null, slices !== undefined ? `${slices} slices` : null].filter(Boolean).join(', ');
  const detail = [labels.join(', '), splits.join(', '), other.join(', ')].filter(Boolean).join('; ');
  if (!head) return detail || '–';
  return detail ? `${head} (${detail})` : head;
}

function renderSites() {
  const body = $('sites-table').querySelector('tbody');
  body.replaceChildren();
  $('sites-empty').hidden = state.sites.length > 0;
  for (const site of state.sites) {
    const row = document.createElement('tr');
    row.dataset.siteId = site.id;
    const name = cell(site.name);
    name.title = `site id ${site.id}`;
    const fingerprint = document.createElement('div');
    fingerprint.className = 'mono';
    fingerprint.textContent = site.fingerprint;
    fingerprint.title = 'key fingerprint: compare it with `fedct-site status` on the site';
    name.append(fingerprint);
    const online = site.revokedAt ? 'revoked' : site.online ? 'online' : 'offline';
    const stateCell = cell('');
    const badge = document.createElement('span');
    badge.className = `badge ${online}`;
    badge.textContent = online;
    stateCell.append(badge);
    const backend = site.backend ? `${site.backend}${site.gpu ? ' · GPU' : ''}` : '–';
    const counts = formatCounts(site.datasets);
    const enrolment = site.revokedAt ? `revoked ${new Date(site.revokedAt).toLocaleString()}${site.revokeReason ? ` (${site.revokeReason})` : ''}` : `enrolled ${new Date(site.enrolledAt).toLocaleDateString()}`;
    const actions = cell('');
    if (!site.revokedAt) actions.append(button('Revoke', () => revokeSite(site), 'danger admin-only', `Revoke ${site.name}`));
    row.append(name, stateCell, cell(ago(site.lastSeen)), cell(backend), cell(counts, 'small'), cell(enrolment, 'small'), actions);
    body.append(row);
  }
}

async function revokeSite(site) {
  if (!window.confirm(`Revoke ${site.name}? Its connections close at once and it is refused from then on.`)) return;
  await attempt(async () => {
    await api(`/api/sites/${encodeURIComponent(site.id)}/revoke`, { method: 'POST', body: { reason: 'revoked from the dashboard' } });
    await loadSites();
  });
}

async function createEnrolmentToken(event) {
  event.preventDefault();
  const siteName = $('enrol-name').value.trim();
  const hours = Number($('enrol-hours').value);
  await attempt(async () => {
    const result = await api('/api/enrollment-tokens', { method: 'POST', body: { siteName, ttlSeconds: Math.round(hours * 3600) } });
    $('enrol-result-name').textContent = result.siteName;
    $('enrol-result-expiry').textContent = new Date(result.expiresAt).toLocaleString();
    $('enrol-command').textContent = `fedct-site enroll --coordinator ${location.origin} --token ${result.token}`;
    $('enrol-result').hidden = false;
    $('enrol-result').focus();
    $('enrol-form').reset();
  });
}

// ---------------------------------------------------------------------------------------------
// Experiments

async function loadExperiments() {
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
    const statusCell = cell('');
    const badge = document.createElement('span');
    badge.className = `badge ${exp.status}`;
    badge.textContent = exp.status;
    statusCell.append(badge);
    row.append(
      cell(exp.name ? `${exp.name} (${exp.id})` : exp.id),
      cell(exp.phase),
      statusCell,
      cell(`${exp.publishedRounds} / ${exp.settings.rounds}`),
      cell(exp.currentModel ?? '–'),
      (() => {
        const c = cell('');
        c.append(button('Open', () => selectExperiment(exp.id), 'secondary', `Open experiment ${exp.name ?? exp.id}`));
        return c;
      })(),
    );
    body.append(row);
  }
}

async function selectExperiment(id, focus = true) {
  state.selected = id;
  await attempt(loadDetail);
  renderExperiments();
  if (focus) $('experiment-detail').focus();
}

async function loadDetail() {
  if (!state.selected) return;
  state.detail = await api(`/api/experiments/${encodeURIComponent(state.selected)}`);
  renderDetail();
}

function progressText(exp) {
  const total = exp.settings.rounds;
  const live = state.lastRound.get(exp.id);
  const last = exp.rounds[exp.rounds.length - 1];
  if (exp.status !== 'running') {
    return `${exp.status}: ${exp.publishedRounds} of ${total} rounds published${exp.reason ? ` (${exp.reason})` : ''}.`;
  }
  if (live && (!last || live.round >= last.round)) {
    return `Round ${live.round} of ${total}: ${live.state}, ${live.accepted} of ${live.participants.length} site updates accepted${live.modelVersion ? `, published ${live.modelVersion}` : ''}.`;
  }
  if (last) {
    const accepted = last.results.filter((r) => r.status === 'accepted').length;
    return `Round ${last.round} of ${total}: ${last.state}, ${accepted} of ${last.participants.length} site updates accepted.`;
  }
  return `Waiting for ${exp.settings.minSites} site(s) to be online for round 1 of ${total}.`;
}

function renderDetail() {
  const exp = state.detail;
  if (!exp) return;
  $('experiment-detail').hidden = false;
  $('detail-title').textContent = `${exp.name ?? 'Experiment'} · ${exp.id} · ${exp.phase}`;
  $('detail-progress').textContent = progressText(exp);
  $('detail-progress-bar').max = exp.settings.rounds;
  $('detail-progress-bar').value = exp.publishedRounds;
  $('exp-pause').disabled = exp.status !== 'running';
  $('exp-resume').disabled = exp.status !== 'paused';
  $('exp-abort').disabled = exp.status !== 'running' && exp.status !== 'paused';

  const settings = $('detail-settings');
  settings.replaceChildren();
  for (const [key, value] of Object.entries(exp.settings)) {
    const dt = document.createElement('dt');
    dt.textContent = key;
    const dd = document.createElement('dd');
    dd.textContent = typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
    settings.append(dt, dd);
  }

  const charts = $('charts');
  charts.replaceChildren();
  const keys = new Set();
  for (const round of exp.rounds) for (const key of Object.keys(round.metrics ?? {})) keys.add(key);
  const published = exp.rounds.filter((r) => r.state === 'published');
  charts.append(lineChart({ title: 'accepted updates', points: exp.rounds.map((r) => ({ x: r.round, y: r.results.filter((s) => s.status === 'accepted').length })) }));
  for (const key of [...keys].sort()) {
    charts.append(lineChart({ title: key, points: published.map((r) => ({ x: r.round, y: r.metrics?.[key] })) }));
  }

  const names = new Map(state.sites.map((s) => [s.id, s.name]));
  const body = $('rounds-table').querySelector('tbody');
  body.replaceChildren();
  for (const round of [...exp.rounds].reverse()) {
    const row = document.createElement('tr');
    row.dataset.round = String(round.round);
    const sites = round.results.map((r) => `${names.get(r.siteId) ?? r.siteId}: ${r.status}${r.reason ? ` (${r.reason})` : ''}`).join('; ') || round.participants.map((id) => names.get(id) ?? id).join(', ');
    const stateCell = cell('');
    const badge = document.createElement('span');
    badge.className = `badge ${round.state}`;
    badge.textContent = round.state;
    stateCell.append(badge);
    row.append(cell(String(round.round)), stateCell, cell(sites, 'small'), cell(round.modelVersion ?? '–'), cell(formatMetrics(round.metrics), 'small'), cell(round.reason ?? '', 'small'));
    body.append(row);
  }
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

function numberField(id) {
  const raw = $(id).value.trim();
  return raw === '' ? undefined : Number(raw);
}

async function startExperiment(event) {
  event.preventDefault();
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
  await attempt(async () => {
    const created = await api('/api/experiments', { method: 'POST', body });
    await loadExperiments();
    await selectExperiment(created.id);
  });
}

// ---------------------------------------------------------------------------------------------
// Models

async function loadModels() {
  state.models = await api('/api/models');
  renderModels();
}

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
    row.append(cell(model.version), cell(`${model.model}${model.phase ? ` (${model.phase})` : ''}`), cell(lineage(model, byVersion), 'small'), cell(from, 'small'), cell(formatMetrics(model.metrics), 'small'), sha, download);
    body.append(row);
  }
  for (const [id, filter] of [['x-initial', null], ['x-denoiser', 'denoiser']]) {
    const select = $(id);
    const keep = select.value;
    const first = select.options[0];
    select.replaceChildren(first);
    for (const model of [...state.models].reverse()) {
      if (filter && model.phase && model.phase !== filter) continue;
      const option = document.createElement('option');
      option.value = model.version;
      option.textContent = `${model.version} · ${model.model}${model.phase ? ` (${model.phase})` : ''}`;
      select.append(option);
    }
    select.value = keep;
  }
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

// ---------------------------------------------------------------------------------------------
// Audit

let auditRun = null;
let auditAgain = false;

/** Appends new audit entries; calls never overlap (an event during a load triggers one more load). */
function loadAudit() {
  if (auditRun) {
    auditAgain = true;
    return auditRun;
  }
  auditRun = (async () => {
    try {
      do {
        auditAgain = false;
        try {
          await fetchAudit();
        } catch (error) {
          // A load begun before a sign-out ends as "signed out"; one asked for since then still runs.
          if (!(error instanceof ApiError && error.status === -1 && auditAgain)) throw error;
        }
      } while (auditAgain);
    } finally {
      auditRun = null;
    }
  })();
  return auditRun;
}

async function fetchAudit() {
  const body = $('audit-table').querySelector('tbody');
  if (state.auditAfter === 0 && body.rows.length === 0) {
    // Start from the newest 500 entries (sequence numbers are contiguous) and show the chain's state.
    const verified = await api('/api/audit/verify');
    showVerify(verified);
    state.auditAfter = Math.max(0, verified.entries - 500);
  }
  const entries = await api(`/api/audit?after=${state.auditAfter}&limit=500`);
  for (const entry of entries) {
    const row = document.createElement('tr');
    row.dataset.event = entry.event;
    row.append(cell(String(entry.seq)), cell(new Date(entry.time).toLocaleString(), 'small'), cell(entry.actor), cell(entry.event), cell(JSON.stringify(entry.detail), 'small mono'));
    body.prepend(row);
    state.auditAfter = Math.max(state.auditAfter, entry.seq);
  }
  while (body.rows.length > 1000) body.deleteRow(body.rows.length - 1);
  if (entries.length === 500) auditAgain = true;
}

function showVerify(result) {
  $('audit-verify-result').textContent = result.ok ? `Hash chain intact (${result.entries} entries).` : `Hash chain BROKEN at entry ${result.brokenAt}.`;
}

async function verifyAudit() {
  await attempt(async () => showVerify(await api('/api/audit/verify')));
}

// ---------------------------------------------------------------------------------------------
// Live events

function connectLive() {
  state.socket?.disconnect();
  const socket = io('/admin', { auth: { token: state.token }, transports: ['websocket', 'polling'] });
  state.socket = socket;
  setLive('Connecting…', 'pending');
  socket.on('connect', () => {
    setLive('● Live', 'ok');
    // Catch up on anything that happened while disconnected.
    soon('all', refreshAll, 0);
  });
  socket.on('disconnect', () => setLive('Connection lost: reconnecting…', 'bad'));
  socket.on('connect_error', (error) => {
    if (/unauthori/i.test(error.message)) {
      signOut('The coordinator refused the live connection: the token was not accepted.');
    } else {
      setLive('Coordinator unreachable: retrying…', 'bad');
    }
  });
  socket.on('round', (event) => {
    state.lastRound.set(event.experiment, event);
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
    soon('experiments', loadExperiments);
    if (state.selected === event.experiment) soon('detail', loadDetail);
    soon('audit', loadAudit, 300);
  });
}

// ---------------------------------------------------------------------------------------------
// Session

async function refreshAll() {
  await Promise.all([loadSites(), loadExperiments(), loadModels(), loadAudit()]);
  if (state.selected) await loadDetail();
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
  connectLive();
}

function signOut(message) {
  for (const timer of state.timers.values()) clearTimeout(timer);
  state.timers.clear();
  state.socket?.disconnect();
  state.socket = null;
  state.token = null;
  state.selected = null;
  state.detail = null;
  state.auditAfter = 0;
  $('audit-table').querySelector('tbody').replaceChildren();
  $('experiment-detail').hidden = true;
  sessionStorage.removeItem(TOKEN_KEY);
  showApp(false);
  if (message) showError(message);
  $('token').value = '';
  $('token').focus();
}

function wire() {
  $('sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('token').value.trim();
    if (token) signIn(token);
  });
  $('sign-out').addEventListener('click', () => signOut());
  $('enrol-form').addEventListener('submit', createEnrolmentToken);
  $('enrol-copy').addEventListener('click', () => navigator.clipboard?.writeText($('enrol-command').textContent));
  $('experiment-form').addEventListener('submit', startExperiment);
  $('exp-pause').addEventListener('click', () => experimentAction('pause'));
  $('exp-resume').addEventListener('click', () => experimentAction('resume'));
  $('exp-abort').addEventListener('click', () => experimentAction('abort'));
  $('audit-verify').addEventListener('click', verifyAudit);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
  else $('token').focus();
}

wire();
window.fedctDashboard = state;
