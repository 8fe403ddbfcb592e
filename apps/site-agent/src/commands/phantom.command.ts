import type { Command } from 'commander';
import { generatePhantomStudy, SCANNER_PROFILES, writePhantomDicom } from '@fedct/pipeline';
import { CLASS_NAMES, isClassName } from '@fedct/protocol';

/** `fedct-site phantom --out DIR --class C --seed N [--scanner NAME]`: one synthetic study as a DICOM series (docs/cli.md). */
export function registerPhantom(program: Command): void {
  program
    .command('phantom')
    .description('write one seeded synthetic chest CT study as a DICOM series (for trying the system and for tests)')
    .requiredOption('--out <dir>', 'folder to write the series into (created if needed)')
    .requiredOption('--class <class>', `pathology: ${CLASS_NAMES.join(' | ')}`)
    .requiredOption('--seed <n>', 'integer seed')
    .option('--scanner <name>', `scanner profile: ${Object.keys(SCANNER_PROFILES).join(' | ')}`, 'tiny')
    .option('--json', 'print one JSON object')
    .action(async (opts: { out: string; class: string; seed: string; scanner: string; json?: boolean }) => {
      const cls = opts.class;
      if (!isClassName(cls)) throw new Error(`--class must be one of ${CLASS_NAMES.join(', ')} (got "${cls}")`);
      if (!/^-?\d+$/.test(opts.seed)) throw new Error(`--seed must be an integer (got "${opts.seed}")`);
      if (!SCANNER_PROFILES[opts.scanner]) {
        throw new Error(`unknown --scanner "${opts.scanner}"; use one of: ${Object.keys(SCANNER_PROFILES).join(', ')}`);
      }
      const study = generatePhantomStudy({ cls, seed: Number(opts.seed), scanner: opts.scanner });
      const files = await writePhantomDicom(study, opts.out);
      const summary = {
        out: opts.out,
        class: study.cls,
        seed: study.seed,
        scanner: study.scanner.name,
        files: files.length,
        shape: study.shape,
        spacingMm: study.spacingMm,
        seriesInstanceUid: study.series.seriesInstanceUid,
        lesions: study.lesions.length,
      };
      if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else {
        process.stdout.write(
          `wrote ${files.length} DICOM slices (${study.shape.join(' x ')}, ${study.scanner.name}, ${study.cls}, seed ${study.seed}) to ${opts.out}\n`,
        );
      }
    });
}
