/*
 * `node scripts/run-ts.js test/helpers/toy-daemon.ts SITE_DIR SIZE`: the site daemon as `fedct-site run`
 * starts it (one process, the same waiting on SIGINT/SIGTERM and nothing else keeping it alive), with
 * the exactly predictable ToyEngine instead of the networks. Logs JSON lines on stderr.
 */
import { createLogger, SiteDaemon, SiteFolder } from '@fedct/site-agent';
import { ToyEngine } from '@fedct/site-agent/testing';

async function main(): Promise<void> {
  const [dir, size] = process.argv.slice(2);
  if (!dir || !size) throw new Error('usage: toy-daemon.ts SITE_DIR SIZE');
  const site = SiteFolder.open(dir);
  const logger = createLogger({ level: 'info', format: 'json' });
  const daemon = new SiteDaemon({ site, engine: new ToyEngine(Number(size)), logger });
  await daemon.start();
  await new Promise<void>((resolve) => {
    const stop = (): void => void daemon.stop().then(() => {
      site.close();
      resolve();
    });
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

void main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
