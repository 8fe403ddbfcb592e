import { Command, CommanderError } from 'commander';
import { DemoError } from './errors';

export interface DemoCliOptions {
  profile: 'tiny' | 'default' | 'paper';
  out: string;
  faults: boolean;
  parallel: number;
  check: boolean;
  /** A YAML/JSON file merged over the profile's demo settings (same keys as the profile's `demo:` section). */
  settings?: string;
}

/** Parses `npm run demo -- [--profile tiny|default|paper] [--out DIR] [--faults] [--parallel N]`. */
export function parseDemoArgs(argv: readonly string[]): DemoCliOptions {
  const program = new Command('npm run demo --')
    .description('Train CovidCTNet across three simulated hospitals (separate processes over loopback) and report what federation bought.')
    .option('--profile <name>', 'tiny (CI-sized, < 5 min), default (minutes) or paper (exact paper sizes)', 'default')
    .option('--out <dir>', 'output folder (report.json, report.html, logs, site folders)', 'demo-output')
    .option('--faults', 'kill and restart one hospital daemon and the coordinator mid-experiment', false)
    .option('--parallel <n>', 'child processes preparing data at once', '2')
    .option('--settings <file>', 'YAML or JSON merged over the profile\'s demo settings (the keys of a profile\'s demo: section)')
    .option('--check', 'exit with status 3 when the profile\'s thresholds (accuracy, rounds, single-site comparison) are not met', false)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError && (error.code === 'commander.helpDisplayed' || error.code === 'commander.version')) process.exit(0);
    throw new DemoError(error instanceof Error ? error.message.replace(/^error: /, '') : String(error));
  }
  const o = program.opts<{ profile: string; out: string; faults: boolean; parallel: string; check: boolean; settings?: string }>();
  if (!['tiny', 'default', 'paper'].includes(o.profile)) throw new DemoError(`--profile must be tiny, default or paper, got "${o.profile}"`);
  const parallel = Number(o.parallel);
  if (!Number.isInteger(parallel) || parallel < 1) throw new DemoError(`--parallel must be a positive integer, got "${o.parallel}"`);
  return { profile: o.profile as DemoCliOptions['profile'], out: o.out, faults: o.faults, parallel, check: o.check, ...(o.settings ? { settings: o.settings } : {}) };
}
