// Sites: the table (state, key fingerprint, dataset counts), revocation and enrolment tokens.
import { api, attempt } from './api.js';
import { $, ago, badgeCell, button, cell } from './dom.js';
import { renderSiteChoices } from './evaluation-form.js';
import { state } from './state.js';

export async function loadSites() {
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

export function renderSites() {
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
    const backend = site.backend ? `${site.backend}${site.gpu ? ' · GPU' : ''}` : '–';
    const enrolment = site.revokedAt ? `revoked ${new Date(site.revokedAt).toLocaleString()}${site.revokeReason ? ` (${site.revokeReason})` : ''}` : `enrolled ${new Date(site.enrolledAt).toLocaleDateString()}`;
    const actions = cell('');
    if (!site.revokedAt) actions.append(button('Revoke', () => revokeSite(site), 'danger admin-only', `Revoke ${site.name}`));
    row.append(name, badgeCell(online), cell(ago(site.lastSeen)), cell(backend), cell(formatCounts(site.datasets), 'small'), cell(enrolment, 'small'), actions);
    body.append(row);
  }
  renderSiteChoices();
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

export function wireSites() {
  $('enrol-form').addEventListener('submit', createEnrolmentToken);
  $('enrol-copy').addEventListener('click', () => navigator.clipboard?.writeText($('enrol-command').textContent));
}
