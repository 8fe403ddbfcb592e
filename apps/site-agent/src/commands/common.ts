import type { Command } from 'commander';
import { SiteFolder } from '../site/site-folder';
import { resolveSiteDir } from '../site/site-paths';
import { createLogger, type Logger } from '../util/logger';

/** Adds `--site DIR` (default: $FEDCT_SITE_DIR or the current folder). */
export function withSiteOption(command: Command): Command {
  return command.option('-s, --site <dir>', 'site folder (default: $FEDCT_SITE_DIR or the current folder)');
}

/** Opens the site folder named by `--site`. */
export function openSite(options: { site?: string }): SiteFolder {
  return SiteFolder.open(resolveSiteDir(options.site));
}

/** The logger a command uses, per the site's logging settings. */
export function siteLogger(site: SiteFolder | null, json = false): Logger {
  const logging = site?.config.logging;
  const format = logging?.format === 'json' || logging?.format === 'text' ? logging.format : json ? 'json' : undefined;
  return createLogger({ level: logging?.level ?? 'info', ...(format ? { format } : {}) });
}

/** Prints one JSON object on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints human lines on stdout. */
export function printLines(lines: readonly string[]): void {
  process.stdout.write(`${lines.join('\n')}\n`);
}
