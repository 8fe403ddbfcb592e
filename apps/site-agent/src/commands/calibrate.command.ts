import type { Command } from 'commander';
import { prepareCalibration } from '../predict/calibration.service';
import { MIN_CALIBRATION_STUDIES } from '../predict/predict.service';
import { createPipelineEngine } from '../training/pipeline-engine';
import { createProgress } from '../util/progress';
import { openSite, printJson, printLines, siteLogger, withSiteOption } from './common';
import { commandModels } from './models';

export function registerCalibrate(program: Command): void {
  withSiteOption(
    program
      .command('calibrate')
      .description('prepare site-local BatchNorm statistics: extract the infection maps of this site\'s studies that predictions calibrate on, per scanner model, for the latest models (run it after a model update; predictions work without it, the first one per scanner model is just slower)')
      .option('--model <file|latest>', 'classifier (3-D CNN) model file, or "latest": the newest global model the daemon fetched', 'latest')
      .option('--denoiser <file>', 'BCDU-Net model file (default: the newest global denoiser the daemon fetched)')
      .option('--backend <name>', 'compute backend: auto, tensorflow-gpu, tensorflow, native, wasm, cpu')
      .option('--json', 'print one JSON object'),
  ).action(async (options: { site?: string; model: string; denoiser?: string; backend?: string; json?: boolean }) => {
    const site = openSite(options);
    try {
      const logger = siteLogger(site, options.json);
      const { denoiser, classifier } = commandModels(site, options);
      const engine = createPipelineEngine({ profile: site.config.profile, backend: options.backend ?? site.config.backend, logger });
      try {
        const report = await prepareCalibration({ site, engine, denoiser, classifier, progress: createProgress(logger) });
        if (options.json) return printJson(report);
        printLines([
          `classifier ${classifier.version}, denoiser ${denoiser.version}`,
          ...(!report.batchNorm ? ['the classifier has no BatchNorm layers: predictions need no site-local statistics'] : []),
          ...report.scanners.map((s) => `${s.scanner}: ${s.studies} studies${s.calibrates ? '' : ` (fewer than ${MIN_CALIBRATION_STUDIES}: its predictions keep the federation's statistics)`}`),
          ...(report.unnamed > 0 ? [`${report.unnamed} studies name no scanner model and are not used`] : []),
          `done in ${(report.durationMs / 1000).toFixed(1)} s`,
        ]);
      } finally {
        engine.dispose();
      }
    } finally {
      site.close();
    }
  });
}
