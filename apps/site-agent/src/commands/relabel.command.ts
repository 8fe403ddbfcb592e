import type { Command } from 'commander';
import { LABELS, SPLITS, type Label, type Split, type StudyRecord } from '../data/dataset-index';
import type { SiteFolder } from '../site/site-folder';
import { SiteAgentError } from '../util/errors';
import { openSite, printJson, printLines, withSiteOption } from './common';

/** The study a command names: its SeriesInstanceUID, or the path it was imported from. */
function findStudy(site: SiteFolder, which: string): StudyRecord {
  const study = site.index.get(which) ?? site.index.bySourcePath(which) ?? site.index.bySourcePath(which.replace(/\/+$/, ''));
  if (!study) throw new SiteAgentError(`no study ${which} in this site's dataset (give its SeriesInstanceUID or the path it was imported from; fedct-site data lists them)`, 'not_found');
  return study;
}

/** `fedct-site relabel STUDY --label L [--split S]` and `fedct-site remove STUDY`: correct the local dataset. */
export function registerRelabel(program: Command): void {
  withSiteOption(
    program
      .command('relabel')
      .description('change the class or split of one imported study (by SeriesInstanceUID or the path it was imported from)')
      .argument('<study>', 'SeriesInstanceUID or source path (see fedct-site data)')
      .option('--label <label>', `new class: ${LABELS.join(', ')}`)
      .option('--split <split>', `new split: ${SPLITS.join(', ')}`),
  )
    .option('--json', 'print one JSON object')
    .action((which: string, options: { site?: string; label?: string; split?: string; json?: boolean }) => {
      if (options.label === undefined && options.split === undefined) throw new SiteAgentError('give --label and/or --split');
      if (options.label !== undefined && !(LABELS as readonly string[]).includes(options.label)) throw new SiteAgentError(`--label must be one of ${LABELS.join(', ')}, got "${options.label}"`);
      if (options.split !== undefined && !(SPLITS as readonly string[]).includes(options.split)) throw new SiteAgentError(`--split must be one of ${SPLITS.join(', ')}, got "${options.split}"`);
      const site = openSite(options);
      try {
        const before = findStudy(site, which);
        const after = { ...before, label: (options.label ?? before.label) as Label, split: (options.split ?? before.split) as Split };
        site.index.upsert(after);
        const result = { series: before.seriesInstanceUid, path: before.sourcePath, before: { label: before.label, split: before.split }, after: { label: after.label, split: after.split } };
        if (options.json) return printJson(result);
        printLines([`${before.sourcePath}: ${before.label}/${before.split} -> ${after.label}/${after.split}`]);
      } finally {
        site.close();
      }
    });

  withSiteOption(
    program
      .command('remove')
      .description('remove one imported study from the local dataset and its cached volumes (the source files are not touched)')
      .argument('<study>', 'SeriesInstanceUID or source path (see fedct-site data)'),
  )
    .option('--json', 'print one JSON object')
    .action((which: string, options: { site?: string; json?: boolean }) => {
      const site = openSite(options);
      try {
        const study = findStudy(site, which);
        const files = site.removeStudy(study.seriesInstanceUid);
        const result = { series: study.seriesInstanceUid, path: study.sourcePath, label: study.label, split: study.split, cacheFilesRemoved: files };
        if (options.json) return printJson(result);
        printLines([`removed ${study.sourcePath} (${study.label}/${study.split}) from the dataset; ${files} cached file(s) deleted; the source files are untouched`]);
      } finally {
        site.close();
      }
    });
}
