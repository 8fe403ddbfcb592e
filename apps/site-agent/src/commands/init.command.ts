import type { Command } from 'commander';
import { backendPreferenceSchema } from '../site/site-config';
import { initSiteFolder } from '../site/site-folder';
import { SiteAgentError } from '../util/errors';
import { printJson, printLines } from './common';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create a site folder: configuration, policy, new keys (owner-only) and the local dataset index')
    .argument('<dir>', 'the site folder to create (empty or absent)')
    .option('--name <name>', 'site name shown to the consortium (default: the folder name)')
    .option('--profile <name>', 'model profile: tiny, default, paper or a profile file', 'default')
    .option('--backend <name>', 'compute backend: auto, tensorflow-gpu, tensorflow, native, wasm, cpu', 'auto')
    .option('--json', 'print one JSON object')
    .action((dir: string, options: { name?: string; profile: string; backend: string; json?: boolean }) => {
      const backend = backendPreferenceSchema.safeParse(options.backend);
      if (!backend.success) throw new SiteAgentError(`--backend must be one of ${backendPreferenceSchema.options.join(', ')}, got "${options.backend}"`);
      const site = initSiteFolder(dir, { ...(options.name ? { name: options.name } : {}), profile: options.profile, backend: backend.data });
      const result = { site: site.config.site.name, folder: site.paths.root, fingerprint: site.fingerprint(), keys: site.paths.keys };
      site.close();
      if (options.json) return printJson(result);
      printLines([
        `Site "${result.site}" created in ${result.folder}`,
        `  keys:        ${result.keys} (owner-only)`,
        `  fingerprint: ${result.fingerprint}  (the coordinator admin should see the same)`,
        `  policy:      ${site.paths.policy}  (edit to set which tasks this site accepts)`,
        'Next: fedct-site enroll --site DIR --coordinator URL --token TOKEN',
      ]);
    });
}
