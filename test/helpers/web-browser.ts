/**
 * Headless Debian chromium for the browser tests, driven by playwright-core. A fresh profile each time;
 * no network beyond 127.0.0.1 is used by the pages. When chromium is missing the tests fail with a
 * message saying how to install it (CI installs it), never pass silently.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';

export const CHROMIUM_PATH = process.env.FEDCT_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots for a person to look at (git-ignored). */
export const WEB_OUTPUT_DIR = resolve(__dirname, '..', '..', 'test-output', 'web');

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors seen so far. */
  errors: string[];
  close(): Promise<void>;
}

/** Launches chromium with a fresh --user-data-dir; throws a clear error when it is not installed. */
export async function launchTestBrowser(viewport = { width: 1280, height: 900 }): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`chromium not found at ${CHROMIUM_PATH}: the browser tests need Debian's chromium (apt-get install chromium; .ci/run installs it) or FEDCT_CHROMIUM=/path/to/chromium`);
  }
  mkdirSync(WEB_OUTPUT_DIR, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'fedct-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM_PATH, headless: true, args: ARGS, viewport, acceptDownloads: true });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  return {
    context,
    page,
    errors,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** `expect.poll` with room for a busy machine (vitest's default gives up after one second). */
export function eventually<T>(read: () => T | Promise<T>, timeoutMs = 15_000): ReturnType<typeof expect.poll<T>> {
  return expect.poll(read, { timeout: timeoutMs, interval: 100 });
}
