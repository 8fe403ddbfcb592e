import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLASSES, encodeModelBlob, evaluationCounts, summarizeEvaluation, type EvaluationView, type Task } from '@fedct/protocol';
import { ADMIN_TOKEN, READ_TOKEN, startTestCoordinator } from './helpers/coordinator-harness';
import { SimSite, api, toyModel, uploadModel } from '@fedct/site-agent/testing';
import { WEB_OUTPUT_DIR, eventually, launchTestBrowser, type TestBrowser } from './helpers/web-browser';

type Coordinator = Awaited<ReturnType<typeof startTestCoordinator>>;

let coordinator: Coordinator;
let coordinatorStopped = false;
let browser: TestBrowser;
const sites: SimSite[] = [];

/** What hospital-north measures when asked to evaluate: 15 test studies, five per class, some wrong. */
const NORTH_COUNTS = evaluationCounts(
  [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2],
  Array.from({ length: 15 }, (_, k) => {
    const truth = Math.floor(k / 5);
    const said = k % 4 === 0 ? (truth + 1) % 3 : truth;
    const p = [0.15, 0.15, 0.15];
    p[said] = 0.55 + 0.02 * (k % 5);
    return p;
  }),
);
/** Why hospital-south refuses it (what a site's policy says, evaluation.splits). */
const SOUTH_REFUSAL = 'refused by site policy (evaluation.splits): the test split is not offered';

/**
 * What a site reports with a classifier update, the way a real site does (local-round.ts): its
 * training loss and ~30 validation keys. Each site's figures differ, so each draws its own line.
 */
function classifierMetrics(site: number, round: number): Record<string, number> {
  const metrics: Record<string, number> = { loss: (0.9 - 0.1 * site) / round, val_accuracy: 0.5 + 0.1 * round + 0.05 * site, val_count: 12, train_seconds: 3, update_norm: 0.4 };
  for (const key of ['covid_vs_rest_accuracy', 'covid_sensitivity', 'covid_specificity', 'auc_covid', 'auc_macro', 'auc_micro']) metrics[`val_${key}`] = 0.7;
  for (const c of CLASSES) for (const key of ['precision', 'recall', 'f1']) metrics[`val_${c.name}_${key}`] = 0.6;
  for (const t of CLASSES) for (const p of CLASSES) metrics[`val_confusion_${t.name}_as_${p.name}`] = t === p ? 3 : 1;
  return metrics;
}

/** Site `index` trains with its own metrics; an evaluate task is answered with `evaluation` (counts, or a refusal). */
function answerTasks(site: SimSite, index: number, evaluation: typeof NORTH_COUNTS | string): void {
  site.onTask = async (task: Task) => {
    if (task.kind === 'evaluate') {
      if (typeof evaluation === 'string') await site.socket!.timeout(5000).emitWithAck('task.fail', { experiment: task.experiment, round: task.round, reason: evaluation });
      else await site.submitEvaluation(task, evaluation);
      return;
    }
    const blob = await site.train(task);
    const reply = await site.upload(task, site.sealUpdate(task, blob, { metrics: classifierMetrics(index, task.round) }));
    if (reply) site.results.push({ task, reply });
  };
}

/** "0.83 (0.71–0.91)": how the dashboard writes a figure and its 95 % interval. */
function withInterval(figure: { value: number | null; ci: [number, number] | null }): string {
  if (figure.value === null) return '–';
  return figure.ci ? `${figure.value.toFixed(2)} (${figure.ci[0].toFixed(2)}–${figure.ci[1].toFixed(2)})` : figure.value.toFixed(2);
}

beforeAll(async () => {
  coordinator = await startTestCoordinator();
  await uploadModel(coordinator.url, ADMIN_TOKEN, encodeModelBlob(toyModel(2000)));
  for (const [i, name] of ['hospital-north', 'hospital-south'].entries()) {
    const site = await SimSite.enroll(coordinator.url, ADMIN_TOKEN, name, 0.1 * (i + 1), { sampleCount: 10 * (i + 1), seed: i + 11 });
    answerTasks(site, i, i === 0 ? NORTH_COUNTS : SOUTH_REFUSAL);
    const reply = await site.connect();
    expect(reply.ok).toBe(true);
    sites.push(site);
  }
  browser = await launchTestBrowser();
});

afterAll(async () => {
  await browser?.close();
  for (const site of sites) site.disconnect();
  if (!coordinatorStopped) await coordinator?.dispose();
});

describe('coordinator dashboard', () => {
  it('refuses a wrong token with a readable message', async () => {
    const { page } = browser;
    await page.goto(coordinator.url);
    await page.getByLabel('Admin token').fill('not-the-admin-token-at-all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await eventually(() => page.locator('#error').textContent()).toMatch(/Sign-in failed: invalid bearer token/);
    expect(await page.locator('#app').isHidden()).toBe(true);
  });

  it('signs in, lists the online sites and starts an experiment whose rounds arrive live over socket.io', async () => {
    const { page } = browser;
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByLabel('Admin token').press('Enter');
    await page.locator('#app').waitFor({ state: 'visible' });
    await eventually(() => page.locator('#live').textContent()).toBe('● Live');
    const siteRows = page.locator('#sites-table tbody tr');
    await eventually(() => siteRows.count()).toBe(2);
    await eventually(() => page.locator('#sites-table .badge.online').count()).toBe(2);
    expect(await page.locator('#sites-table tbody').textContent()).toContain('hospital-north');
    // Each site's key fingerprint is shown, to compare with `fedct-site status` at the hospital.
    const listed = await api<{ name: string; fingerprint: string }[]>(coordinator.url, '/api/sites', ADMIN_TOKEN);
    for (const site of listed) expect(await page.locator('#sites-table tbody').textContent()).toContain(site.fingerprint);
    // The sites report counts per class (the simulated ones: control 3, covid 2, cap 1).
    expect(await page.locator('#sites-table tbody tr').first().textContent()).toContain('control 3, cap 1; covid 2');
    expect(await page.evaluate("sessionStorage.getItem('fedct.adminToken')")).toBe(ADMIN_TOKEN);

    await page.getByLabel('Name', { exact: true }).fill('browser test');
    await page.getByRole('spinbutton', { name: 'Rounds', exact: true }).fill('2');
    await page.getByLabel('Minimum sites per round').fill('2');
    await page.getByLabel('Round deadline (s)').fill('30');
    await page.getByLabel('Initial model').selectOption('v1');
    await page.getByLabel('Phase').selectOption('classifier');
    await page.getByLabel('Frozen denoiser (classifier)').selectOption('v1');
    await page.getByRole('button', { name: 'Start experiment' }).click();

    await page.locator('#experiment-detail').waitFor({ state: 'visible' });
    await page.locator('#rounds-table tr[data-round="1"] .badge.published').waitFor({ timeout: 60_000 });
    await eventually(() => page.locator('#detail-progress').textContent(), 60_000).toMatch(/completed: 2 of 2 rounds published/);
    // The round events came over the /admin socket (pushed), not from polling.
    const pushed = (await page.evaluate('[...window.fedctDashboard.lastRound.values()].map((e) => `${e.round}:${e.state}`)')) as string[];
    expect(pushed).toEqual(['2:published']);
    // Two charts, training loss and validation accuracy, each with one line (and legend entry) per site.
    expect(await page.locator('#charts svg').count()).toBe(2);
    for (const [metric, title, north, south] of [
      ['loss', 'Training loss, per site', 'round 1 0.9, round 2 0.45', 'round 1 0.8, round 2 0.4'],
      ['val_accuracy', 'Validation accuracy (3 classes), per site', 'round 1 0.6, round 2 0.7', 'round 1 0.65, round 2 0.75'],
    ]) {
      const chart = page.locator(`#charts figure[data-metric="${metric}"]`);
      expect(await chart.locator('path.chart-line').evaluateAll((paths) => paths.map((p) => p.getAttribute('data-series')))).toEqual(['hospital-north', 'hospital-south']);
      expect(await chart.locator('circle[data-series="hospital-south"]').count()).toBe(2);
      expect(await chart.locator('.legend li').allTextContents()).toEqual(['hospital-north', 'hospital-south']);
      expect(await chart.locator('svg').getAttribute('aria-label')).toBe(`${title}. hospital-north: ${north}; hospital-south: ${south}`);
    }
    // The ~40 raw keys are there, but only behind a closed disclosure, and no longer one chart each.
    const raw = page.locator('#raw-metrics');
    expect(await page.locator('details#raw-metrics:not([open])').count()).toBe(1);
    expect(await raw.locator('summary').textContent()).toMatch(/^All reported metrics: \d{2} keys over 2 published round\(s\)$/);
    expect(await raw.locator('tr[data-key="val_confusion_cap_as_control"]').count()).toBe(1);
    expect(await raw.locator('tr[data-key="val_confusion_cap_as_control"]').isVisible()).toBe(false);
    expect(await page.locator('#charts').textContent()).not.toContain('val_confusion');
    expect(await page.locator('#rounds-table tr[data-round="2"]').textContent()).not.toContain('val_confusion');
    await eventually(() => page.locator('#models-table tr[data-version="v3"]').textContent()).toContain('v3 ← v2 ← v1');
    expect(await page.locator('#audit-table tbody tr').count()).toBeGreaterThan(3);
    expect(await page.locator('#audit-verify-result').textContent()).toMatch(/^Hash chain intact \(\d+ entries\)\.$/);
    // Newest first, no entry twice although refreshes overlap.
    const seqs = (await page.locator('#audit-table tbody tr td:first-child').allTextContents()).map(Number);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    expect(new Set(seqs).size).toBe(seqs.length);
    await page.screenshot({ path: join(WEB_OUTPUT_DIR, 'dashboard.png'), fullPage: true });
  }, 180_000);

  it('starts an evaluation from the form and shows the figures with intervals, the pooled row, confusion matrices and the refusing site', async () => {
    const { page } = browser;
    const form = page.locator('#evaluation-form');
    // v3 is the classifier the experiment above published; its denoiser (v1) is the default.
    await form.getByLabel('Classifier to measure').selectOption('v3');
    await form.getByLabel('Split').selectOption('test');
    for (const name of ['hospital-north', 'hospital-south']) await form.getByLabel(name, { exact: true }).check();
    await form.getByRole('button', { name: 'Start evaluation' }).click();
    await page.locator('#evaluation-detail').waitFor({ state: 'visible' });
    await eventually(() => page.locator('#eval-progress').textContent(), 30_000).toBe('completed: 1 of 2 site(s) answered.');

    const listed = await api<EvaluationView[]>(coordinator.url, '/api/evaluations', ADMIN_TOKEN);
    expect(listed).toHaveLength(1);
    const view = await api<EvaluationView>(coordinator.url, `/api/evaluations/${listed[0]!.id}`, ADMIN_TOKEN);
    expect(view).toMatchObject({ status: 'completed', split: 'test', classifier: { version: 'v3' }, denoiser: { version: 'v1' } });
    expect(view.sites.map((x) => x.siteId).sort()).toEqual(sites.map((x) => x.siteId).sort());
    const north = view.sites.find((x) => x.siteName === 'hospital-north')!;
    expect(north.summary).toEqual(summarizeEvaluation(NORTH_COUNTS));
    expect(await page.locator('#eval-title').textContent()).toBe(`evaluation of v3 on test · ${view.id}`);

    // One row per answering site and a pooled row: the API's figures, with their intervals and counts.
    expect(await page.locator('#eval-table tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-site')))).toEqual([north.siteId, 'pooled']);
    for (const [row, summary] of [[north.siteId, north.summary!], ['pooled', view.pooled!]] as const) {
      const cells = page.locator(`#eval-table tr[data-site="${row}"]`);
      expect(await cells.locator('td[data-metric="n"]').textContent()).toBe('15');
      const figures = { accuracy: summary.accuracy, covidVsRestAccuracy: summary.covidVsRestAccuracy, aucCovid: summary.aucCovid, covidSensitivity: summary.covidSensitivity, covidSpecificity: summary.covidSpecificity, 'f1-control': summary.perClass.control.f1, 'f1-covid-19': summary.perClass['covid-19'].f1, 'f1-cap': summary.perClass.cap.f1 };
      for (const [metric, figure] of Object.entries(figures)) {
        expect(await cells.locator(`td[data-metric="${metric}"] .figure`).textContent(), metric).toBe(withInterval(figure));
      }
      expect(await cells.locator('td[data-metric="accuracy"] .figure').textContent()).toMatch(/^0\.\d\d \(0\.\d\d–0\.\d\d\)$/);
      expect(await cells.locator('td[data-metric="accuracy"] .counts').textContent()).toBe(`${summary.accuracy.successes} / 15`);
      expect(await cells.locator('td[data-metric="covidSensitivity"] .counts').textContent()).toBe(`${summary.covidSensitivity.successes} / 5`);
    }
    expect(await page.locator('#eval-table thead th').allTextContents()).toEqual(['Site', 'Studies (n)', '3-class accuracy', 'Covid-19 vs rest accuracy', 'Covid-19 AUC', 'Covid-19 sensitivity', 'Covid-19 specificity', 'F1 Control', 'F1 Covid-19', 'F1 CAP']);

    // The site's 3 × 3 confusion matrix: rows the true class, columns the predicted one, in the classes' order.
    const matrix = page.locator(`#eval-confusion table[data-site="${north.siteId}"]`);
    expect(await matrix.locator('thead th').allTextContents()).toEqual(['true ↓ · predicted →', ...CLASSES.map((c) => c.display)]);
    const rows = await Promise.all((await matrix.locator('tbody tr').all()).map((tr) => tr.locator('th, td').allTextContents()));
    expect(rows).toEqual(CLASSES.map((c, t) => [c.display, ...NORTH_COUNTS.confusion[t]!.map(String)]));
    expect(await page.locator('#eval-confusion table').count()).toBe(2);

    // The site that refused, with its reason.
    expect(view.missing.map((m) => [m.siteName, m.status])).toEqual([['hospital-south', 'failed']]);
    expect(view.missing[0]!.reason).toContain(SOUTH_REFUSAL);
    expect(await page.locator('#eval-missing li').allTextContents()).toEqual([`hospital-south: refused or failed: ${view.missing[0]!.reason}`]);
    expect(await page.locator(`#evaluations-table tr[data-evaluation-id="${view.id}"]`).textContent()).toMatch(/v3test.*completed1 of 2/);
    await page.locator('#evaluation-detail').screenshot({ path: join(WEB_OUTPUT_DIR, 'dashboard-evaluation.png') });
  }, 60_000);

  it('pauses, resumes and aborts an experiment that waits for more sites', async () => {
    const { page } = browser;
    await page.getByLabel('Name', { exact: true }).fill('needs three sites');
    await page.getByLabel('Minimum sites per round').fill('3');
    // The classifier options (in the REST API since the default profile's tuning) are in the form too.
    await page.getByLabel('Phase').selectOption('classifier');
    await page.getByLabel('Frozen denoiser (classifier)').selectOption('v1');
    await page.getByLabel('Learning-rate schedule').selectOption('cosine');
    await page.getByLabel('Class-balanced local epochs (classifier)').check();
    await page.getByLabel('Left-right flips (classifier)').check();
    await page.getByRole('button', { name: 'Start experiment' }).click();
    await eventually(() => page.locator('#detail-title').textContent()).toMatch(/^needs three sites · /);
    const experiments = await api<{ name: string; settings: Record<string, unknown> }[]>(coordinator.url, '/api/experiments', ADMIN_TOKEN);
    expect(experiments.find((e) => e.name === 'needs three sites')?.settings).toMatchObject({ phase: 'classifier', learningRateSchedule: 'cosine', classBalanced: true, flipAugment: true });
    const shown = await page.locator('#detail-settings').textContent();
    expect(shown).toContain('cosine');
    await page.getByLabel('Phase').selectOption('denoiser');
    await page.getByLabel('Learning-rate schedule').selectOption('constant');
    await page.getByLabel('Class-balanced local epochs (classifier)').uncheck();
    await page.getByLabel('Left-right flips (classifier)').uncheck();
    await eventually(() => page.locator('#detail-progress').textContent()).toMatch(/^Waiting for 3 site\(s\) to be online for round 1 of 2\.$/);

    await page.getByRole('button', { name: 'Pause' }).click();
    await eventually(() => page.locator('#detail-progress').textContent()).toMatch(/^paused: 0 of 2 rounds published/);
    expect(await page.getByRole('button', { name: 'Pause' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Resume' }).click();
    await eventually(() => page.locator('#detail-progress').textContent()).toMatch(/^Waiting for 3 site/);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Abort' }).click();
    await eventually(() => page.locator('#detail-progress').textContent()).toMatch(/^aborted: 0 of 2 rounds published \(aborted from the dashboard\)\.$/);
  });

  it('sends the strategy and privacy settings and shows the coordinator\'s refusal in one line', async () => {
    const { page } = browser;
    await page.getByLabel('Strategy').selectOption('median');
    await page.getByLabel('Secure aggregation', { exact: true }).check();
    await page.getByRole('button', { name: 'Start experiment' }).click();
    await eventually(() => page.locator('#error').textContent()).toBe('strategy median needs every update; it cannot run with secure aggregation');
    await page.getByLabel('Secure aggregation', { exact: true }).uncheck();
    await page.getByLabel('Strategy').selectOption('fedavg');
  });

  it('creates an enrolment token and revokes a site from the keyboard-reachable controls', async () => {
    const { page } = browser;
    await page.getByLabel('Site name').fill('hospital-east');
    await page.getByRole('button', { name: 'Create enrolment token' }).click();
    await eventually(() => page.locator('#enrol-command').textContent()).toMatch(new RegExp(`^fedct-site enroll --coordinator ${coordinator.url} --token \\S{16,}$`));

    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Revoke hospital-south' }).click();
    await eventually(() => page.locator('#sites-table .badge.revoked').count()).toBe(1);
    await eventually(() => page.locator('#audit-table tbody').textContent()).toMatch(/revoke/);
  });

  it('downloads a model version with the token', async () => {
    const { page } = browser;
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download model v3' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^fedct-v3-[0-9a-f]{12}\.fctm$/);
  });

  it('shows the read-only token what it cannot do, and signs out on request', async () => {
    const { page } = browser;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').fill(READ_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#app').waitFor({ state: 'visible' });
    await page.getByLabel('Site name').fill('hospital-west');
    await page.getByRole('button', { name: 'Create enrolment token' }).click();
    await eventually(() => page.locator('#error').textContent()).toMatch(/read-only token cannot change anything/);
    // A reload keeps the tab signed in (sessionStorage), with the live connection back.
    await page.reload();
    await page.locator('#app').waitFor({ state: 'visible' });
    await eventually(() => page.locator('#live').textContent()).toBe('● Live');
    expect(browser.errors.filter((e) => !/status of 40[013]/.test(e))).toEqual([]);
  });

  it('tells the admin when the coordinator is unreachable', async () => {
    const { page } = browser;
    await eventually(() => page.locator('#live').textContent()).toBe('● Live');
    coordinatorStopped = true;
    await coordinator.dispose();
    await eventually(() => page.locator('#live').textContent()).toMatch(/Connection lost|unreachable/);
    await page.getByRole('button', { name: 'Verify hash chain' }).click();
    await eventually(() => page.locator('#error').textContent()).toBe(`The coordinator at ${coordinator.url} is not reachable. Is it running?`);
  });
});
