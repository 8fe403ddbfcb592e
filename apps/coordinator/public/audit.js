// The audit log: newest entries first, appended as events arrive, and the hash-chain check.
import { ApiError, SIGNED_OUT, api, attempt } from './api.js';
import { $, cell } from './dom.js';
import { state } from './state.js';

let auditRun = null;
let auditAgain = false;

/** Appends new audit entries; calls never overlap (an event during a load triggers one more load). */
export function loadAudit() {
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
          if (!(error instanceof ApiError && error.status === SIGNED_OUT && auditAgain)) throw error;
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

/** Empties the table (sign-out): the next load starts from the newest entries again. */
export function clearAudit() {
  state.auditAfter = 0;
  $('audit-table').querySelector('tbody').replaceChildren();
}

export function wireAudit() {
  $('audit-verify').addEventListener('click', () => attempt(async () => showVerify(await api('/api/audit/verify'))));
}
