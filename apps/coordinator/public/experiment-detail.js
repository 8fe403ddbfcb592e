// The opened experiment: progress, settings, per-site charts, every raw metric key (closed), rounds.
import { lineChart, niceNumber } from './charts.js';
import { $, badgeCell, cell, element } from './dom.js';
import { CHARTED, headline } from './metrics.js';
import { siteName, state } from './state.js';

/** Raw metric columns shown: the newest published rounds. */
const RAW_ROUNDS = 12;

/** One line: the status, or what the current round is doing (from the newest pushed event). */
export function progressText(exp) {
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

/** One series per site that sent `key` in an accepted update: its value per round; sorted by name. */
export function perSiteSeries(rounds, key) {
  const bySite = new Map();
  for (const round of rounds) {
    for (const result of round.results) {
      const value = result.metrics?.[key];
      if (result.status !== 'accepted' || !Number.isFinite(value)) continue;
      const name = siteName(result.siteId);
      if (!bySite.has(name)) bySite.set(name, []);
      bySite.get(name).push({ x: round.round, y: value });
    }
  }
  return [...bySite.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, points]) => ({ name, points }));
}

function renderSettings(exp) {
  const settings = $('detail-settings');
  settings.replaceChildren();
  for (const [key, value] of Object.entries(exp.settings)) {
    const dd = element('dd', '', typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value));
    settings.append(element('dt', '', key), dd);
  }
}

function renderCharts(exp) {
  const charts = $('charts');
  charts.replaceChildren();
  for (const { key, title, range } of CHARTED[exp.phase] ?? CHARTED.denoiser) {
    const chart = lineChart({ title: `${title}, per site`, series: perSiteSeries(exp.rounds, key), yMin: range?.[0], yMax: range?.[1] });
    chart.dataset.metric = key;
    charts.append(chart);
  }
}

/** Every key the rounds reported (as the strategy combined the accepted sites'), key by round. */
function renderRawMetrics(exp) {
  const published = exp.rounds.filter((r) => r.state === 'published' && Object.keys(r.metrics ?? {}).length > 0).slice(-RAW_ROUNDS);
  const keys = [...new Set(published.flatMap((r) => Object.keys(r.metrics)))].sort();
  $('raw-metrics-summary').textContent = keys.length
    ? `All reported metrics: ${keys.length} keys over ${published.length === RAW_ROUNDS ? `the last ${RAW_ROUNDS}` : published.length} published round(s)`
    : 'All reported metrics: none yet';
  const table = $('raw-metrics-table');
  const head = document.createElement('tr');
  for (const text of ['key', ...published.map((r) => `round ${r.round}`)]) {
    const th = element('th', '', text);
    th.scope = 'col';
    head.append(th);
  }
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceChildren(
    ...keys.map((key) => {
      const row = document.createElement('tr');
      row.dataset.key = key;
      const name = element('th', 'mono', key);
      name.scope = 'row';
      row.append(name, ...published.map((r) => cell(niceNumber(r.metrics[key]), 'num')));
      return row;
    }),
  );
}

function renderRounds(exp) {
  const body = $('rounds-table').querySelector('tbody');
  body.replaceChildren();
  for (const round of [...exp.rounds].reverse()) {
    const row = document.createElement('tr');
    row.dataset.round = String(round.round);
    const sites = round.results.map((r) => `${siteName(r.siteId)}: ${r.status}${r.reason ? ` (${r.reason})` : ''}`).join('; ') || round.participants.map(siteName).join(', ');
    row.append(cell(String(round.round)), badgeCell(round.state), cell(sites, 'small'), cell(round.modelVersion ?? '–'), cell(headline(round.metrics), 'small'), cell(round.reason ?? '', 'small'));
    body.append(row);
  }
}

export function renderDetail() {
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
  renderSettings(exp);
  renderCharts(exp);
  renderRawMetrics(exp);
  renderRounds(exp);
}
