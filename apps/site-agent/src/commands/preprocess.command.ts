import type { Command } from 'commander';
import { preprocessPath } from '@fedct/pipeline';

/** Summary statistics of a volume (one pass). */
function stats(data: Float32Array): { min: number; max: number; mean: number } {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  return { min, max, mean: data.length > 0 ? sum / data.length : 0 };
}

/** `fedct-site preprocess PATH [--json] [--series UID]`: the model-ready volume of one study (docs/cli.md). */
export function registerPreprocess(program: Command): void {
  program
    .command('preprocess')
    .description('read a CT study (DICOM folder/files or NIfTI) and preprocess it as the paper does; prints a summary')
    .argument('<path...>', 'a folder (searched recursively), DICOM files, or a .nii/.nii.gz file')
    .option('--json', 'print one JSON object')
    .option('--series <uid>', 'use this SeriesInstanceUID instead of the automatic choice')
    .action(async (paths: string[], opts: { json?: boolean; series?: string }) => {
      const started = performance.now();
      const input = paths.length === 1 ? (paths[0] as string) : paths;
      const volume = await preprocessPath(input, opts.series !== undefined ? { seriesInstanceUid: opts.series } : {});
      const { min, max, mean } = stats(volume.data);
      const result = {
        shape: volume.shape,
        spacingMm: volume.spacingMm,
        sourceSlices: volume.sourceSlices,
        min,
        max,
        mean,
        series: volume.series,
        otherSeries: volume.otherSeries,
        warnings: volume.warnings,
        timingMs: Math.round(performance.now() - started),
      };
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(result)}\n`);
        return;
      }
      const s = volume.series;
      const lines = [
        `series      ${s.seriesInstanceUid || '(none)'} (${s.modality}${s.manufacturer ? `, ${s.manufacturer}` : ''}${s.model ? ` ${s.model}` : ''})`,
        `source      ${volume.sourceSlices} slices of ${s.rows} x ${s.columns}, ${s.transferSyntax}`,
        `volume      ${volume.shape.join(' x ')} (z, y, x) at ${volume.spacingMm.map((v) => v.toFixed(3)).join(' x ')} mm`,
        `values      (normalised: (HU + 1000) / 1400, spec §1) min ${min.toFixed(4)}  max ${max.toFixed(4)}  mean ${mean.toFixed(4)}`,
        ...volume.otherSeries.map((o) => `not used    ${o.seriesInstanceUid} (${o.modality}, ${o.slices} slices): ${o.reason}`),
        ...volume.warnings.map((w) => `warning     ${w}`),
        `took        ${result.timingMs} ms`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
