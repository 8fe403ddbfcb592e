import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBcduNet, createCnn3d, generatePhantomStudy, getModelBlob, writePhantomDicom } from '@fedct/pipeline';
import { encodeModelBlob, evaluationCounts, sha256Hex, type ModelBlob } from '@fedct/protocol';
import { PipelineEngine, createEnginePredictor, createLogger, initSiteFolder, startUiServer, type SiteFolder, type UiServer } from '@fedct/site-agent';
import { WEB_OUTPUT_DIR, eventually, launchTestBrowser, type TestBrowser } from './helpers/web-browser';

const root = mkdtempSync(join(tmpdir(), 'fedct-viewer-'));
const studyDir = join(root, 'covid-phantom');
const emptyDir = join(root, 'not-a-study');
let server: UiServer;
let browser: TestBrowser;
let site: SiteFolder;

function loaded(blob: ModelBlob, version: string): { blob: ModelBlob; sha256: string; version: string } {
  return { blob, sha256: sha256Hex(encodeModelBlob(blob)), version };
}

/** What the page exposes for tests (`window.fedctViewer`). */
interface ViewerGlobals {
  fedctViewer: { nv: { volumes: { cal_min: number; cal_max: number }[] } | null };
}

/** Pixels whose colour is far from grey: the overlay's warm colours (the CT itself is grey). */
function colouredPixels(png: Buffer): number {
  const image = PNG.sync.read(png);
  let count = 0;
  for (let i = 0; i < image.data.length; i += 4) {
    const r = image.data[i] ?? 0;
    const b = image.data[i + 2] ?? 0;
    if (r - b > 60) count++;
  }
  return count;
}

beforeAll(async () => {
  await writePhantomDicom(generatePhantomStudy({ cls: 'covid-19', seed: 5, scanner: 'tiny' }), studyDir);
  mkdirSync(emptyDir);
  const engine = new PipelineEngine({ profile: 'test', backend: 'auto', logger: createLogger({ level: 'error' }) });
  await engine.backend();
  // Small untrained networks with the paper's structure: the page must show whatever the models give.
  const bcdu = { size: 32, base: 4 };
  const cnn = { inputShape: [10, 32, 32] as [number, number, number], filters: [2, 4], denseUnits: 4, dropout: 0, classes: 3 };
  const models = {
    denoiser: loaded(getModelBlob(createBcduNet(bcdu, { seed: 1 }), 'bcdunet', bcdu), 'v4'),
    classifier: loaded(getModelBlob(createCnn3d(cnn, { seed: 2 }), 'cnn3d', cnn), 'v7'),
  };
  // The site's index holds one federated evaluation of the classifier: 3 of 4 val studies right.
  site = initSiteFolder(join(root, 'site'));
  site.index.recordEvaluation({
    evaluation: 'eval-1', classifierSha256: models.classifier.sha256, classifierVersion: 'v7', denoiserSha256: models.denoiser.sha256, split: 'val', at: '2026-11-30T12:00:00.000Z',
    counts: evaluationCounts([0, 1, 2, 2], [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.5, 0.2, 0.3]]),
  });
  server = await startUiServer({
    predictor: createEnginePredictor({ engine, models: () => models, evaluations: (sha) => site.index.latestEvaluation(sha) }),
    listStudies: () => [{ id: '1.2.3', label: 'covid-19', split: 'test', slices: 248, sourcePath: studyDir, importedAt: new Date().toISOString() }],
    info: () => ({ siteName: 'hospital-north', model: { version: 'v7', sha256: models.classifier.sha256 } }),
  });
  browser = await launchTestBrowser({ width: 1280, height: 860 });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  site?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('clinician viewer', () => {
  it('explains a missing folder and an unreadable study in one line', async () => {
    const { page } = browser;
    await page.goto(server.url);
    await page.getByLabel('Open a study folder or file').fill(join(root, 'nowhere'));
    await page.getByRole('button', { name: 'Run prediction' }).click();
    await eventually(() => page.locator('#error').textContent()).toBe(`${join(root, 'nowhere')} does not exist`);

    await page.getByLabel('Open a study folder or file').fill(emptyDir);
    await page.getByLabel('Open a study folder or file').press('Enter');
    await eventually(() => page.locator('#error').textContent(), 60_000).toMatch(/^study unreadable: /);
  });

  it('runs the prediction on a phantom study from the dataset list and shows the probabilities and the overlay', async () => {
    const { page } = browser;
    expect(await page.locator('#site-info').textContent()).toContain('hospital-north');
    const predict = page.getByRole('button', { name: 'Run the prediction on covid-phantom' });
    await predict.focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => (globalThis as unknown as ViewerGlobals).fedctViewer.nv?.volumes.length === 2, undefined, { timeout: 150_000 });
    expect(await page.locator('#error').isHidden()).toBe(true);

    const percents = await page.locator('.prob').allTextContents();
    expect(percents).toHaveLength(3);
    const total = percents.map((t) => Number.parseFloat(t)).reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(99.8);
    expect(total).toBeLessThan(100.2);
    expect(await page.locator('#model-line').textContent()).toMatch(/^Model v7 · sha256 [0-9a-f]{16}/);
    // The model's accuracy at this site from its newest federated evaluation: 3/4, Wilson 95 % 0.3006-0.9544.
    expect(await page.locator('#evaluation-line').textContent()).toBe('at this site: accuracy 75 % (95 % CI 30 %–95 %), Covid AUC 1.00 on 4 val studies, 2026-11-30');

    // The overlay is drawn: coloured pixels with it, none without it.
    const canvas = page.locator('#viewer-canvas');
    const coloured = async () => colouredPixels(await canvas.screenshot());
    await eventually(coloured).toBeGreaterThan(200);
    const withOverlay = await coloured();
    await page.getByLabel('Infection map').uncheck();
    await eventually(coloured).toBeLessThan(withOverlay / 20);
    await page.getByLabel('Infection map').check();
    await eventually(coloured).toBeGreaterThan(200);
    // A higher threshold shows fewer pixels of the map.
    const counted = async () => Number(/: (\d+) pixels/.exec((await page.locator('#overlay-info').textContent()) ?? '')?.[1]);
    const atDefault = await counted();
    expect(atDefault).toBeGreaterThan(0);
    await page.getByLabel('Threshold').fill('90');
    await eventually(counted).toBeLessThan(atDefault);
    await page.getByLabel('Threshold').fill('25');
    await eventually(counted).toBe(atDefault);
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(WEB_OUTPUT_DIR, 'viewer.png') });
  }, 240_000);

  it('scrolls slices from the keyboard and changes the window', async () => {
    const { page } = browser;
    const label = page.locator('#slice-label');
    const before = Number.parseInt((await label.textContent()) ?? '', 10);
    await page.locator('#viewer-canvas').focus();
    await page.keyboard.press(before > 1 ? 'ArrowDown' : 'ArrowUp');
    await eventually(async () => Number.parseInt((await label.textContent()) ?? '', 10)).toBe(before > 1 ? before - 1 : before + 1);
    await page.keyboard.press('Home');
    await eventually(() => label.textContent()).toMatch(/^1 \/ \d+$/);
    // The mouse wheel over the image scrolls too (niivue's own handler, reported back to the page).
    await page.locator('#slice').fill('100');
    await eventually(() => label.textContent()).toMatch(/^100 \/ /);
    const box = await page.locator('#viewer-canvas').boundingBox();
    await page.mouse.move((box?.x ?? 0) + (box?.width ?? 0) / 2, (box?.y ?? 0) + (box?.height ?? 0) / 2);
    await page.mouse.wheel(0, 120);
    await eventually(() => label.textContent()).toMatch(/^(99|101) \/ /);
    // A click reads the CT value (HU, within the model's -1000..400 window) and the map's value there.
    await page.mouse.click((box?.x ?? 0) + (box?.width ?? 0) / 2, (box?.y ?? 0) + (box?.height ?? 0) / 2);
    await eventually(() => page.locator('#cursor-info').textContent()).toMatch(/^Cursor: -?\d+ HU · infection map -?\d+\.\d{3}$/);
    const hu = Number(/Cursor: (-?\d+) HU/.exec((await page.locator('#cursor-info').textContent()) ?? '')?.[1]);
    expect(hu).toBeGreaterThanOrEqual(-1000);
    expect(hu).toBeLessThanOrEqual(400);

    await page.getByLabel('Window', { exact: true }).selectOption('full');
    // Full range W 1400 / L -300 HU is exactly the model-ready range [0, 1].
    const cal = await page.evaluate(() => {
      const volume = (globalThis as unknown as ViewerGlobals).fedctViewer.nv?.volumes[0];
      return [volume?.cal_min, volume?.cal_max];
    });
    expect(cal[0]).toBeCloseTo(0, 6);
    expect(cal[1]).toBeCloseTo(1, 6);
  });

  it('saves a PNG summary and prints it', async () => {
    const { page } = browser;
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Save PNG summary' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^fedct-summary-[0-9a-f]{16}\.png$/);
    const file = join(WEB_OUTPUT_DIR, 'viewer-summary.png');
    await download.saveAs(file);
    const png = PNG.sync.read(readFileSync(file));
    expect(png.width).toBe(3 * 256 + 40);
    expect(png.height).toBe(256 + 137 + 55); // header lines (result, model, series, accuracy at this site), slices, footer
    expect(colouredPixels(readFileSync(file))).toBeGreaterThan(50);

    // Printing (or "save as PDF" in the print dialog) prints the same picture alone. Headless chromium
    // would keep the print dialog "open", so the page's print() only records the call here.
    await page.evaluate(() => {
      const page = globalThis as unknown as { print: () => void; printed: number };
      page.printed = 0;
      page.print = () => void page.printed++;
    });
    await page.getByRole('button', { name: 'Print / save as PDF' }).click();
    await eventually(() => page.evaluate(() => (globalThis as unknown as { printed: number }).printed)).toBe(1);
    await eventually(() => page.locator('#print-image').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(3 * 256 + 40);
    await page.emulateMedia({ media: 'print' });
    expect(await page.locator('#print-image').isVisible()).toBe(true);
    expect(await page.locator('#viewer-canvas').isVisible()).toBe(false);
    const pdf = await page.pdf({ format: 'A4', path: join(WEB_OUTPUT_DIR, 'viewer-summary.pdf') });
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    await page.emulateMedia({ media: 'screen' });
    expect(browser.errors.filter((e) => !/status of 40[0-9]|status of 422/.test(e))).toEqual([]);
  });

  it('says so when the viewer service has stopped', async () => {
    const { page } = browser;
    await server.close();
    await page.getByLabel('Open a study folder or file').fill(studyDir);
    await page.getByRole('button', { name: 'Run prediction' }).click();
    await eventually(() => page.locator('#error').textContent()).toBe('The viewer service is not reachable. Is `fedct-site ui` still running?');
  });
});
