import type { Command } from 'commander';
import { CLASS_NAMES } from '@fedct/protocol';
import { openSite, printJson, printLines, withSiteOption } from './common';

export function registerData(program: Command): void {
  withSiteOption(program.command('data').description('list the local dataset (studies, labels, splits, slices); nothing leaves the site'))
    .option('--skipped', 'list sources an import skipped, with the reason')
    .option('--json', 'print one JSON object')
    .action((options: { site?: string; json?: boolean; skipped?: boolean }) => {
      const site = openSite(options);
      const studies = site.index.list();
      const counts = site.index.counts();
      const skipped = site.index.skipped();
      const archive = site.index.listArchive();
      site.close();
      if (options.json) return printJson({ counts, studies, archive, skipped });
      if (options.skipped) {
        return printLines(skipped.length ? skipped.map((s) => `${s.sourcePath}: ${s.reason}`) : ['no skipped sources']);
      }
      printLines([
        ...studies.map((s) => `${s.label.padEnd(8)} ${s.split.padEnd(5)} ${String(s.shape[0]).padStart(4)} slices  ${s.seriesInstanceUid}  ${s.sourcePath}`),
        ...archive.map((s) => `archive  ${'-'.padEnd(5)} ${String(s.shape[0]).padStart(4)} slices  ${s.seriesInstanceUid}  ${s.sourcePath}  ${s.scanner || '(no scanner name)'}`),
        ...(archive.length ? [`${archive.length} unlabeled archive studies (site-local BatchNorm statistics only)`] : []),
        `${counts.studies} studies, ${counts.slices} slices (${CLASS_NAMES.map((name) => `${name} ${counts.byLabel[name]}`).join(', ')}; train ${counts.bySplit.train}, val ${counts.bySplit.val}, test ${counts.bySplit.test})${skipped.length ? `; ${skipped.length} skipped (--skipped)` : ''}`,
      ]);
    });
}
