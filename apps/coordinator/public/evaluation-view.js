// One evaluation: per-site and pooled figures with 95 % intervals, confusion matrices, who did not answer.
import { $, element } from './dom.js';

/** How people read each class; a class the page does not know is shown by its name. */
const DISPLAY = { control: 'Control', 'covid-19': 'Covid-19', cap: 'CAP' };
const display = (name) => DISPLAY[name] ?? name;

/** What a site's status means when it has no figures. */
const NOT_ANSWERED = { failed: 'refused or failed', dropped: 'no answer before the deadline', invited: 'not answered yet' };

/** "0.83 (0.71–0.91)"; "0.83" without an interval; "–" without a value. */
export function formatFigure(value, ci) {
  if (value === null || value === undefined) return '–';
  return ci ? `${value.toFixed(2)} (${ci[0].toFixed(2)}–${ci[1].toFixed(2)})` : value.toFixed(2);
}

/** The table's columns: what each reads from a summary, and the counts under the figure. */
function columns(classes) {
  const proportion = (key, label) => ({ key, label, read: (s) => s[key], counts: (p) => `${p.successes} / ${p.n}` });
  return [
    proportion('accuracy', '3-class accuracy'),
    proportion('covidVsRestAccuracy', 'Covid-19 vs rest accuracy'),
    { key: 'aucCovid', label: 'Covid-19 AUC', read: (s) => s.aucCovid, counts: (a) => `${a.positives} Covid-19, ${a.negatives} other` },
    proportion('covidSensitivity', 'Covid-19 sensitivity'),
    proportion('covidSpecificity', 'Covid-19 specificity'),
    ...classes.map((name) => ({ key: `f1-${name}`, label: `F1 ${display(name)}`, read: (s) => s.perClass[name]?.f1 ?? { value: null, ci: null }, counts: null })),
  ];
}

function figureCell(column, summary) {
  const td = element('td', 'figure-cell');
  td.dataset.metric = column.key;
  const figure = column.read(summary);
  td.append(element('span', 'figure', formatFigure(figure.value, figure.ci)));
  if (column.counts) td.append(element('span', 'counts', column.counts(figure)));
  if (column.key === 'aucCovid' && figure.value !== null) td.title = `binning moves this AUC by at most ${figure.binningError.toFixed(3)}`;
  if (figure.value === null) td.title = 'no studies to measure this on';
  return td;
}

function figuresTable(view, classes) {
  const table = $('eval-table');
  const cols = columns(classes);
  const head = document.createElement('tr');
  for (const text of ['Site', 'Studies (n)', ...cols.map((c) => c.label)]) {
    const th = element('th', '', text);
    th.scope = 'col';
    head.append(th);
  }
  table.tHead.replaceChildren(head);
  const rows = view.sites.filter((s) => s.summary).map((s) => ({ id: s.siteId, name: s.siteName, summary: s.summary }));
  if (view.pooled) rows.push({ id: 'pooled', name: `Pooled (${rows.length} site${rows.length === 1 ? '' : 's'})`, summary: view.pooled });
  table.tBodies[0].replaceChildren(
    ...rows.map((r) => {
      const row = document.createElement('tr');
      row.dataset.site = r.id;
      if (r.id === 'pooled') row.className = 'pooled';
      const name = element('th', '', r.name);
      name.scope = 'row';
      const n = element('td', 'num', String(r.summary.n));
      n.dataset.metric = 'n';
      row.append(name, n, ...cols.map((c) => figureCell(c, r.summary)));
      return row;
    }),
  );
  table.hidden = rows.length === 0;
}

/** A 3 × 3 table: rows the true class, columns the predicted one, the diagonal marked. */
function confusionTable(id, title, summary, classes) {
  const table = element('table', 'grid confusion');
  table.dataset.site = id;
  table.append(element('caption', '', `${title}: ${summary.n} studies`));
  const head = document.createElement('tr');
  head.append(element('th', 'corner', 'true ↓ · predicted →'));
  for (const name of classes) {
    const th = element('th', '', display(name));
    th.scope = 'col';
    head.append(th);
  }
  table.createTHead().append(head);
  const body = table.createTBody();
  summary.confusion.forEach((values, t) => {
    const row = document.createElement('tr');
    const th = element('th', '', display(classes[t]));
    th.scope = 'row';
    row.append(th, ...values.map((v, p) => element('td', p === t ? 'num diag' : 'num', String(v))));
    body.append(row);
  });
  return table;
}

function progressText(view) {
  const answered = view.sites.filter((s) => s.summary).length;
  const of = `${answered} of ${view.sites.length} site(s) answered`;
  if (view.status === 'running') return `Running: ${of}${view.deadline ? `; the others have until ${new Date(view.deadline).toLocaleString()}` : ''}.`;
  return `${view.status}: ${of}.`;
}

/** Draws an evaluation (GET /api/evaluations/:id) into #evaluation-detail. */
export function renderEvaluation(view) {
  $('evaluation-detail').hidden = false;
  $('eval-title').textContent = `${view.name ?? 'Evaluation'} · ${view.id}`;
  $('eval-what').textContent = `Classifier ${view.classifier.version} (sha256 ${view.classifier.sha256.slice(0, 12)}…) with denoiser ${view.denoiser.version}, on each site's ${view.split} split; started ${new Date(view.createdAt).toLocaleString()}.`;
  $('eval-progress').textContent = progressText(view);
  const summaries = [view.pooled, ...view.sites.map((s) => s.summary)].filter(Boolean);
  const classes = summaries.length ? Object.keys(summaries[0].perClass) : [];
  figuresTable(view, classes);
  const matrices = view.sites.filter((s) => s.summary).map((s) => confusionTable(s.siteId, s.siteName, s.summary, classes));
  if (view.pooled) matrices.push(confusionTable('pooled', 'Pooled', view.pooled, classes));
  $('eval-confusion').replaceChildren(...matrices);
  $('eval-confusion-title').hidden = matrices.length === 0;
  const missing = $('eval-missing');
  missing.replaceChildren(
    ...view.missing.map((m) => {
      const item = element('li', '', `${m.siteName}: ${NOT_ANSWERED[m.status] ?? m.status}${m.reason ? `: ${m.reason}` : ''}`);
      item.dataset.site = m.siteId;
      return item;
    }),
  );
  $('eval-missing-title').hidden = view.missing.length === 0;
}
