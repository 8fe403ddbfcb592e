import type { Command } from 'commander';
import { importStudies } from '../data/import.service';
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
      .option('--split <split>', `${SPLITS.join(', ')} or auto (stable 70/15/15 by series)`, 'train')
      .option('--archive', 'unlabeled studies for site-local BatchNorm statistics only (per scanner model, for predict); never trained on'),
  )
    .option('--json', 'print the summary as one JSON object')
    .action(async (path: string, options: { site?: string; label?: string; split: string; archive?: boolean; json?: boolean }) => {
      if (options.archive && options.label) throw new SiteAgentError('use --label for training data or --archive for unlabeled studies, not both');
      if (!options.archive && !(LABELS as readonly string[]).includes(options.label ?? '')) {
        throw new SiteAgentError(options.label === undefined ? `give --label (${LABELS.join(', ')}) or --archive` : `--label must be one of ${LABELS.join(', ')}, got "${options.label}"`);
      }
      if (options.split !== 'auto' && !(SPLITS as readonly string[]).includes(options.split)) throw new SiteAgentError(`--split must be one of ${SPLITS.join(', ')} or auto, got "${options.split}"`);
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
        printLines([
          `Imported ${summary.imported} new ${summary.label === 'archive' ? 'archive (unlabeled)' : summary.label} studies (${summary.slices} slices) from ${summary.candidates} candidates in ${(summary.durationMs / 1000).toFixed(1)} s; ${summary.alreadyPresent} already present, ${summary.skipped.length} skipped.`,
          ...summary.skipped.map((s) => `  skipped ${s.path}: ${s.reason}`),
          ...(summary.warnings.length ? [`  ${summary.warnings.length} warning(s); see fedct-site data --json`] : []),
        ]);
        if (summary.skipped.length > 0 && summary.imported + summary.alreadyPresent === 0) process.exitCode = 1;
      } finally {
        site.close();
      }
    });
}
