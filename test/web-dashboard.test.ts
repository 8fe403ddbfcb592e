import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeModelBlob } from '@fedct/protocol';
import { ADMIN_TOKEN, READ_TOKEN, startTestCoordinator } from './helpers/coordinator-harness';
import { SimSite, api, toyModel, uploadModel } from '@fedct/site-agent/testing';
import { WEB_OUTPUT_DIR, eventually, launchTestBrowser, type TestBrowser } from './helpers/web-browser';

type Coordinator = Awaited<ReturnType<typeof startTestCoordinator>>;

let coordinator: Coordinator;
let coordinatorStopped = false;
let browser: TestBrowser;
const sites: SimSite[] = [];

beforeAll(async () => {
  coordinator = await startTestCoordinator();
  await uploadModel(coordinator.url, ADMIN_TOKEN, encodeModelBlob(toyModel(2000)));
  for (const [i, name] of ['hospital-north', 'hospital-south'].entries()) {
    const site = await SimSite.enroll(coordinator.url, ADMIN_TOKEN, name, 0.1 * (i + 1), { sampleCount: 10 * (i + 1), seed: i + 11 });
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
    await page.getByRole('button', { name: 'Start experiment' }).click();

    await page.locator('#experiment-detail').waitFor({ state: 'visible' });
    await page.locator('#rounds-table tr[data-round="1"] .badge.published').waitFor({ timeout: 60_000 });
    await eventually(() => page.locator('#detail-progress').textContent(), 60_000).toMatch(/completed: 2 of 2 rounds published/);
    // The round events came over the /admin socket (pushed), not from polling.
    const pushed = (await page.evaluate('[...window.fedctDashboard.lastRound.values()].map((e) => `${e.round}:${e.state}`)')) as string[];
    expect(pushed).toEqual(['2:published']);
    expect(await page.locator('#charts svg').count()).toBeGreaterThanOrEqual(2);
    expect(await page.locator('#charts').textContent()).toContain('loss');
    await eventually(() => page.locator('#models-table tr[data-version="v3"]').textContent()).toContain('v3 ← v2 ← v1');
    expect(await page.locator('#audit-table tbody tr').count()).toBeGreaterThan(3);
    expect(await page.locator('#audit-verify-result').textContent()).toMatch(/^Hash chain intact \(\d+ entries\)\.$/);
    // Newest first, no entry twice although refreshes overlap.
    const seqs = (await page.locator('#audit-table tbody tr td:first-child').allTextContents()).map(Number);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    expect(new Set(seqs).size).toBe(seqs.length);
    await page.screenshot({ path: join(WEB_OUTPUT_DIR, 'dashboard.png'), fullPage: true });
  }, 180_000);

  it('pauses, resumes and aborts an experiment that waits for more sites', async () => {
    const { page } = browser;
    await page.getByLabel('Name', { exact: true }).fill('needs three sites');
    await page.getByLabel('Minimum sites per round').fill('3');
    // The classifier options (in the REST API since the default profile's tuning) are in the form too.
    await page.getByLabel('Phase').selectOption('classifier');
    await page.getByLabel('Frozen denoiser (classifier)').selectOption('v3');
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
