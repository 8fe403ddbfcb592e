import type { Command } from 'commander';
import { loadProfile } from '@fedct/pipeline';
import { SiteDaemon } from '../daemon/site-daemon';
import { createPipelineEngine } from '../training/pipeline-engine';
import { openSite, siteLogger, withSiteOption } from './common';

export function registerRun(program: Command): void {
  withSiteOption(
    program
      .command('run')
      .description('the daemon: stay connected to the coordinator, train when asked (within this site\'s policy), send back sealed updates'),
  )
    .option('--json-logs', 'structured JSON log lines even on a terminal')
    .action(async (options: { site?: string; jsonLogs?: boolean }) => {
      const site = openSite(options);
      const logger = siteLogger(site, options.jsonLogs);
      loadProfile(site.config.profile); // a bad profile is a one-line error now, not in round 1
      const engine = createPipelineEngine({ profile: site.config.profile, backend: site.config.backend, logger });
      const daemon = new SiteDaemon({ site, engine, logger });
      await daemon.start();
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info('stopping', { signal });
          void daemon.stop().then(() => {
            site.close();
            resolve();
          });
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
