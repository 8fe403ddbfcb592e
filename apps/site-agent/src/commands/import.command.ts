import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { importStudies, type ImportSummary } from '../data/import.service';
import { LABELS, SPLITS, type Label, type Split } from '../data/dataset-index';
import { SiteAgentError } from '../util/errors';
import { createProgress } from '../util/progress';
import { openSite, printJson, printLines, siteLogger, withSiteOption } from './common';

export function registerImport(program: Command): void {
  withSiteOption(
    program
      .command('import')
      .description('find the CT studies under PATH, preprocess them and add them to the local dataset (raw data is read in place, never copied)')
      .argument('<path>', 'a folder (searched recursively), a DICOM file or a NIfTI file')
      .option('--label <label>', `the class of every study under PATH: ${LABELS.join(', ')}`)
      .option('--labels-from-folders', `PATH holds one folder per class, named ${LABELS.join(', ')}: each folder's studies get its class`)
      .option('--split <split>', `${SPLITS.join(', ')} or auto (stable 70/15/15 by series)`, 'train')
      .option('--archive', 'unlabeled studies for site-local BatchNorm statistics only (per scanner model, for predict); never trained on'),
  )
    .option('--json', 'print the summary as one JSON object')
    .action(async (path: string, options: { site?: string; label?: string; labelsFromFolders?: boolean; split: string; archive?: boolean; json?: boolean }) => {
      if (!existsSync(path)) throw new SiteAgentError(`${path} does not exist`, 'not_found');
      if ([options.archive, options.label !== undefined, options.labelsFromFolders].filter(Boolean).length > 1) {
        throw new SiteAgentError('use one of --label, --labels-from-folders (training data) or --archive (unlabeled studies)');
      }
      if (options.labelsFromFolders) return importByFolder(path, options);
      if (!options.archive && !(LABELS as readonly string[]).includes(options.label ?? '')) {
        throw new SiteAgentError(options.label === undefined ? `give --label (${LABELS.join(', ')}), --labels-from-folders or --archive` : `--label must be one of ${LABELS.join(', ')}, got "${options.label}"`);
      }
      checkSplit(options.split);
      const site = openSite(options);
      const logger = siteLogger(site, options.json);
      try {
        const summary = await importStudies(site, path, {
          label: options.archive ? 'archive' : (options.label as Label),
          split: options.split as Split | 'auto',
          logger,
          progress: createProgress(logger),
        });
        if (options.json) return printJson(summary);
        printLines(summaryLines(summary));
        if (summary.skipped.length > 0 && summary.imported + summary.alreadyPresent === 0) process.exitCode = 1;
      } finally {
        site.close();
      }
    });
}

function checkSplit(split: string): void {
  if (split !== 'auto' && !(SPLITS as readonly string[]).includes(split)) throw new SiteAgentError(`--split must be one of ${SPLITS.join(', ')} or auto, got "${split}"`);
}

function summaryLines(summary: ImportSummary): string[] {
  return [
    `Imported ${summary.imported} new ${summary.label === 'archive' ? 'archive (unlabeled)' : summary.label} studies (${summary.slices} slices) from ${summary.candidates} candidates in ${(summary.durationMs / 1000).toFixed(1)} s; ${summary.alreadyPresent} already present, ${summary.skipped.length} skipped.`,
    ...summary.skipped.map((s) => `  skipped ${s.path}: ${s.reason}`),
    ...(summary.warnings.length ? [`  ${summary.warnings.length} warning(s); see fedct-site data --json`] : []),
    ...(summary.conflicts.length
      ? [`  ${summary.conflicts.length} already present with another label or split, kept as they were (change one with fedct-site relabel PATH --label L --split S):`]
      : []),
    ...summary.conflicts.map((c) => `    ${c.path}: ${c.label}/${c.split} (this import asked ${c.asked.label}/${c.asked.split})`),
  ];
}

/**
 * The order `--labels-from-folders` imports the class folders in, as it always has (not the output
 * order): studies are listed in import order, so this order is the dataset's, and training's.
 */
const FOLDER_IMPORT_ORDER: readonly Label[] = ['control', 'cap', 'covid-19'];

/** `--labels-from-folders`: PATH/control, PATH/covid-19, PATH/cap, each imported with its class. */
async function importByFolder(path: string, options: { site?: string; split: string; json?: boolean }): Promise<void> {
  checkSplit(options.split);
  const folders = FOLDER_IMPORT_ORDER.map((label) => ({ label, dir: join(path, label) })).filter((f) => existsSync(f.dir) && statSync(f.dir).isDirectory());
  if (folders.length === 0) throw new SiteAgentError(`${path} has no class folder (${LABELS.join(', ')})`);
  const site = openSite(options);
  const logger = siteLogger(site, options.json);
  try {
    const summaries: ImportSummary[] = [];
    for (const { label, dir } of folders) {
      summaries.push(await importStudies(site, dir, { label, split: options.split as Split | 'auto', logger, progress: createProgress(logger) }));
    }
    const total = (key: 'imported' | 'alreadyPresent' | 'candidates') => summaries.reduce((n, s) => n + s[key], 0);
    const skipped = summaries.reduce((n, s) => n + s.skipped.length, 0);
    if (options.json) printJson({ path, imported: total('imported'), alreadyPresent: total('alreadyPresent'), candidates: total('candidates'), skipped, byLabel: summaries });
    else printLines(summaries.flatMap(summaryLines));
    if (skipped > 0 && total('imported') + total('alreadyPresent') === 0) process.exitCode = 1;
  } finally {
    site.close();
  }
}
