import { CLASS_NAMES, type BaselineResult, type DemoReport, type ReportRound, type TestMetrics } from './report.types';
import { barChart, confusionChart, escapeXml, lineChart, type Series } from './svg';

/** A rendered sample image for the report. */
export interface ReportImage {
  title: string;
  /** `data:image/png;base64,...` */
  dataUri: string;
}

/** The paper's own results (covidctnet-spec.md §6): real patients, not our synthetic data. */
export const PAPER_RESULTS: readonly { setting: string; accuracy: number | null; auc: number | null; sensitivity: number | null; specificity: number | null }[] = [
  { setting: 'validation, 15 studies, 3 classes', accuracy: 0.8666, auc: 0.94, sensitivity: 0.9091, specificity: 1 },
  { setting: 'validation, Covid vs non-Covid', accuracy: 0.9333, auc: null, sensitivity: null, specificity: null },
  { setting: 'reader test, 20 studies, 3 classes', accuracy: 0.85, auc: 0.9, sensitivity: null, specificity: null },
  { setting: 'reader test, Covid vs non-Covid', accuracy: 0.95, auc: null, sensitivity: 0.93, specificity: 1 },
  { setting: 'four radiologists (average), 3 classes', accuracy: 0.71, auc: null, sensitivity: 0.79, specificity: 0.8214 },
];

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2'];
const pct = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '—' : `${(v * 100).toFixed(1)} %`);
const num = (v: number | null | undefined, digits = 3): string => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));
const e = escapeXml;

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`;
}

/** Site metrics worth a plot line or a table cell (the rest, e.g. confusion cells and counts, stay in report.json). */
const SHOWN_METRIC = /^(val_)?(accuracy|auc_covid|auc_macro|bce|mse|noisy_mse|covid_sensitivity|covid_specificity)$|^update_norm$/;

function roundSeries(rounds: readonly ReportRound[], phase: ReportRound['phase']): { loss: Series[]; metrics: Series[] } {
  const own = rounds.filter((r) => r.phase === phase && r.state === 'published');
  const loss: Series[] = [{ name: 'training loss', color: COLORS[0] ?? '#000', markers: true, points: own.filter((r) => r.loss !== null).map((r) => [r.index, r.loss ?? 0] as const) }];
  const names = [...new Set(own.flatMap((r) => Object.keys(r.metrics)))].filter((k) => k !== 'loss' && SHOWN_METRIC.test(k)).sort();
  const metrics = names.map((name, i) => ({
    name,
    color: COLORS[(i + 1) % COLORS.length] ?? '#000',
    markers: true,
    points: own.filter((r) => r.metrics[name] !== undefined).map((r) => [r.index, r.metrics[name] ?? 0] as const),
  }));
  return { loss, metrics };
}

function metricsRow(label: string, m: TestMetrics, emphasis = false): string {
  const cells = [m.accuracy, m.accuracyCovidVsRest].map(pct).concat([num(m.auc), num(m.aucMacro), num(m.aucMicro), pct(m.sensitivity), pct(m.specificity)]);
  return `<tr${emphasis ? ' class="ours"' : ''}><th>${e(label)}</th>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
}

function baselineLabel(b: BaselineResult): string {
  return `${b.name} alone (${b.trainStudies} studies, ${b.epochs} epochs)`;
}

/**
 * Renders the report as one self-contained HTML page: inline CSS and SVG, images as data URIs, no
 * script and no network access.
 */
export function renderReportHtml(report: DemoReport, images: readonly ReportImage[] = []): string {
  const fed = report.federated.test;
  const best = report.singleSite.reduce<BaselineResult | null>((a, b) => (a === null || b.test.accuracy > a.test.accuracy ? b : a), null);
  const den = roundSeries(report.rounds, 'denoiser');
  const cls = roundSeries(report.rounds, 'classifier');
  const bars = [
    { label: 'federated', value: fed.accuracy, color: '#2ca02c' },
    ...report.singleSite.map((b) => ({ label: `${b.name} alone`, value: b.test.accuracy, color: '#ff7f0e' })),
    { label: 'pooled (centralised)', value: report.centralized.test.accuracy, color: '#1f77b4' },
  ];
  const rocSeries: Series[] = [
    { name: 'federated', color: '#2ca02c', points: fed.roc.map((p) => [p.fpr, p.tpr] as const) },
    { name: 'pooled', color: '#1f77b4', points: report.centralized.test.roc.map((p) => [p.fpr, p.tpr] as const) },
    ...(best ? [{ name: `best single (${best.name})`, color: '#ff7f0e', points: best.test.roc.map((p) => [p.fpr, p.tpr] as const) }] : []),
    { name: 'chance', color: '#999', dashed: true, points: [[0, 0], [1, 1]] as const },
  ];
  const gap = report.centralized.test.accuracy - fed.accuracy;
  const header = `<tr><th></th><th>accuracy (3 classes)</th><th>accuracy Covid vs rest</th><th>AUC Covid-19</th><th>AUC macro</th><th>AUC micro</th><th>sensitivity</th><th>specificity</th></tr>`;
  const perClass = CLASS_NAMES.map((c) => `<tr><th>${c}</th><td>${pct(fed.perClass[c].precision)}</td><td>${pct(fed.perClass[c].recall)}</td><td>${pct(fed.perClass[c].f1)}</td></tr>`).join('');
  const sitesRows = report.sites
    .map((s) => `<tr><th>${e(s.name)}</th><td>${e(s.scanner)}</td>${(['train', 'val'] as const).map((split) => `<td>${CLASS_NAMES.map((c) => s.counts[split][c]).join(' / ')}</td>`).join('')}</tr>`)
    .join('');
  const timings = Object.entries(report.timingsMs)
    .map(([k, v]) => `<tr><th>${e(k)}</th><td>${formatMs(v)}</td></tr>`)
    .join('');
  const rounds = report.rounds
    .map((r) => `<tr><td>${r.phase}</td><td>${r.index}</td><td>${e(r.state)}</td><td>${e(r.participants.join(', '))}</td><td>${num(r.loss, 4)}</td><td>${e(Object.entries(r.metrics).filter(([k]) => SHOWN_METRIC.test(k)).map(([k, v]) => `${k}=${v.toFixed(3)}`).join(', '))}</td><td>${e(r.modelVersion ?? '—')}</td></tr>`)
    .join('');
  const faults = report.faults.length
    ? `<h2>Injected faults</h2><table><tr><th>at</th><th>event</th><th>target</th><th>detail</th></tr>${report.faults.map((f) => `<tr><td>${formatMs(f.atMs)}</td><td>${f.kind}</td><td>${e(f.target)}</td><td>${e(f.detail)}</td></tr>`).join('')}</table>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fedct demo report (${e(report.profile)})</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right;font-size:13px}
th{text-align:left;background:#fafafa}tr.ours th,tr.ours td{background:#eef8ee;font-weight:600}tr.paper th,tr.paper td{color:#555;font-style:italic}
.grid{display:flex;flex-wrap:wrap;gap:16px}.note{color:#555;font-size:13px}.samples figure{margin:0}.samples figcaption{font-size:12px}
</style></head><body>
<h1>fedct demo: federated CovidCTNet across ${report.sites.length} simulated hospitals</h1>
<p class="note">Profile <b>${e(report.profile)}</b>, seed ${report.seed}, backend ${e(report.backend)}, input ${report.inputShape.join(' × ')}, ${e(report.createdAt)}.
All studies are <b>synthetic phantoms</b> written as DICOM; the test set comes from a fourth hospital (${e(report.external.name)}, scanner ${e(report.external.scanner)}) that never took part in training.
Secure aggregation: ${report.federated.secureAggregation ? 'on' : 'off'}.
${statisticsNote(report)}</p>

<h2>What federation bought</h2>
<div class="grid">${barChart(bars, '3-class accuracy on the external test set')}
<div><p>Federated accuracy <b>${pct(fed.accuracy)}</b>; best single site ${best ? `${e(best.name)} ${pct(best.test.accuracy)}` : '—'}; pooled ${pct(report.centralized.test.accuracy)} (gap to pooled: ${(gap * 100).toFixed(1)} points).</p>
<p class="note">Pooling all images centrally is what the hospitals could not legally do; it is shown as the upper reference.</p></div></div>
<table>${header}
${metricsRow(`federated (${report.federated.classifier.version})`, fed, true)}
${report.singleSite.map((b) => metricsRow(baselineLabel(b), b.test)).join('\n')}
${metricsRow(`pooled centrally (${report.centralized.trainStudies} studies, ${report.centralized.epochs} epochs)`, report.centralized.test)}
</table>

<h2>Paper vs this run</h2>
<p class="note">The paper's numbers are on <b>real patients</b> (335 studies from 12 scanner models); ours are on <b>synthetic phantoms</b> from this demo's generator. They are shown side by side for the metric definitions, not as a like-for-like comparison.</p>
<table><tr><th>setting</th><th>accuracy</th><th>AUC Covid-19</th><th>sensitivity</th><th>specificity</th></tr>
${PAPER_RESULTS.map((r) => `<tr class="paper"><th>paper (real patients): ${e(r.setting)}</th><td>${pct(r.accuracy)}</td><td>${num(r.auc, 2)}</td><td>${pct(r.sensitivity)}</td><td>${pct(r.specificity)}</td></tr>`).join('\n')}
<tr class="ours"><th>ours (synthetic, federated): external test, ${fed.n} studies, 3 classes</th><td>${pct(fed.accuracy)}</td><td>${num(fed.auc, 2)}</td><td>${pct(fed.sensitivity)}</td><td>${pct(fed.specificity)}</td></tr>
<tr class="ours"><th>ours (synthetic, federated): Covid vs non-Covid</th><td>${pct(fed.accuracyCovidVsRest)}</td><td>—</td><td>${pct(fed.sensitivity)}</td><td>${pct(fed.specificity)}</td></tr>
</table>

<h2>Training rounds</h2>
<div class="grid">
${lineChart(den.loss, { title: 'Denoiser (BCDU-Net): loss per round', xLabel: 'round', yLabel: 'loss', integerX: true })}
${den.metrics.length ? lineChart(den.metrics, { title: 'Denoiser: site metrics per round', xLabel: 'round', yLabel: 'value', integerX: true }) : ''}
${lineChart(cls.loss, { title: 'Classifier (3-D CNN): loss per round', xLabel: 'round', yLabel: 'loss', integerX: true })}
${cls.metrics.length ? lineChart(cls.metrics, { title: 'Classifier: site metrics per round', xLabel: 'round', yLabel: 'value', integerX: true }) : ''}
</div>
<table><tr><th>phase</th><th>round</th><th>state</th><th>participants</th><th>loss</th><th>site metrics (sample-weighted; all in report.json)</th><th>model</th></tr>${rounds}</table>

<h2>Federated model on the external test set</h2>
<div class="grid">
${lineChart(rocSeries, { title: 'ROC, Covid-19 vs rest', xLabel: 'false-positive rate', yLabel: 'true-positive rate', xRange: [0, 1], yRange: [0, 1] })}
${confusionChart(fed.confusion, CLASS_NAMES, 'Confusion matrix (federated)')}
<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th></tr>${perClass}</table>
</div>

${siteEvaluationSection(report)}

<h2>Sample slices and infection maps</h2>
<p class="note">Left: the model-ready slice; right: the positive part of the residual x − BCDU-Net(x) of the federated denoiser, in red.</p>
<div class="grid samples">${images.map((img) => `<figure><img src="${img.dataUri}" alt="${e(img.title)}"><figcaption>${e(img.title)}</figcaption></figure>`).join('')}</div>

<h2>Hospitals</h2>
<table><tr><th>site</th><th>scanner</th><th>train (control / covid-19 / cap)</th><th>val (control / covid-19 / cap)</th></tr>${sitesRows}
<tr><th>${e(report.external.name)} (test only)</th><td>${e(report.external.scanner)}</td><td colspan="2">${CLASS_NAMES.map((c) => report.external.counts[c]).join(' / ')}${report.external.calibration ? `; unlabeled archive ${CLASS_NAMES.map((c) => report.external.calibration?.[c] ?? 0).join(' / ')}` : ''}</td></tr></table>

<h2>Timings and bytes</h2>
<div class="grid"><table>${timings}</table>
<table><tr><th>bytes to sites (model chunks)</th><td>${formatBytes(report.bytes.toSites)}</td></tr>
<tr><th>bytes from sites (sealed updates)</th><td>${formatBytes(report.bytes.fromSites)}</td></tr>
<tr><th>one denoiser model</th><td>${formatBytes(report.bytes.modelBlob.denoiser)}</td></tr>
<tr><th>one classifier model</th><td>${formatBytes(report.bytes.modelBlob.classifier)}</td></tr></table></div>
<h2>Published models</h2>
<table><tr><th>version</th><th>sha256</th></tr>${report.federated.publishedModels.map((m) => `<tr><td>${e(m.version)}</td><td><code>${e(m.sha256)}</code></td></tr>`).join('')}</table>
${faults}
</body></html>
`;
}

/** The final model measured at each site through POST /api/evaluations: figures with intervals and n, confusion matrices. */
function siteEvaluationSection(report: DemoReport): string {
  if (report.evaluation.length === 0) return '';
  const interval = (ci: readonly [number, number] | null): string => (ci ? ` <span class="note">(${pct(ci[0])}–${pct(ci[1])})</span>` : '');
  const rows = report.evaluation
    .map((v) => `<tr><th>${e(v.site)}</th><td>${v.split}</td><td>${v.n}</td><td>${pct(v.accuracy)}${interval(v.accuracyCi)}</td><td>${num(v.aucCovid)}${v.aucCovidCi ? ` <span class="note">(${num(v.aucCovidCi[0], 2)}–${num(v.aucCovidCi[1], 2)})</span>` : ''}</td><td><code>${e(v.evaluation)}</code></td></tr>`)
    .join('');
  return `<h2>Federated evaluation at the sites</h2>
<p class="note">The final federated classifier measured by each site's daemon on its own studies (hospitals: their validation split; ${e(report.external.name)}: its test set, the studies above), through <code>POST /api/evaluations</code>: only aggregate counts left the sites. Intervals are 95 % (Wilson for accuracy, DeLong on the binned scores for the AUC). A handful of validation studies per hospital gives wide intervals: these figures test the pipeline on synthetic phantoms, not the diagnosis.</p>
<table><tr><th>site</th><th>split</th><th>n</th><th>accuracy (3 classes)</th><th>AUC Covid-19</th><th>evaluation</th></tr>${rows}</table>
<div class="grid">${report.evaluation.map((v) => confusionChart(v.confusion, CLASS_NAMES, `${v.site} (${v.split})`)).join('\n')}</div>`;
}

/** How the external hospital normalised: site-local BatchNorm statistics, with the plain model's score beside them. */
function statisticsNote(report: DemoReport): string {
  const { calibration, testModelStatistics } = report.federated;
  if (!calibration) return '';
  const archive = Object.entries(calibration).map(([scanner, n]) => `${e(scanner)}: ${n}`).join(', ');
  return `<br>Site-local BatchNorm statistics: every model here classifies each scanner model's test studies with statistics from ${e(report.external.name)}'s own unlabeled studies of that scanner model (${archive}; labels unused), as a site does before it predicts.${
    testModelStatistics ? ` With its own FedAvg-averaged statistics the federated model scores ${pct(testModelStatistics.accuracy)}.` : ''
  }`;
}
