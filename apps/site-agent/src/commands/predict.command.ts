import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { CLASS_NAMES } from '@fedct/protocol';
import { predictStudy, siteArchive } from '../predict/predict.service';
import { evaluationLine } from '../predict/site-evaluation';
import { SiteFolder } from '../site/site-folder';
import { resolveSiteDir } from '../site/site-paths';
import { createPipelineEngine } from '../training/pipeline-engine';
import { SiteAgentError } from '../util/errors';
import { createLogger } from '../util/logger';
import { printJson, printLines } from './common';
import { commandModels } from './models';

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('classify one CT study locally (control / CAP / Covid-19) and draw where the network found infection; nothing leaves this machine')
    .argument('<path>', 'a DICOM series folder, DICOM files or a NIfTI file')
    .option('--model <file|latest>', 'classifier (3-D CNN) model file, or "latest": the newest global model the daemon fetched', 'latest')
    .option('--denoiser <file>', 'BCDU-Net model file (default: the newest global denoiser the daemon fetched)')
    .option('-s, --site <dir>', 'site folder, for "latest" models and the profile (default: $FEDCT_SITE_DIR or the current folder)')
    .option('--profile <name>', 'model profile when no site folder is used', 'default')
    .option('--backend <name>', 'compute backend: auto, tensorflow-gpu, tensorflow, native, wasm, cpu')
    .option('--out <dir>', 'write a PNG of representative slices with the infection map overlaid')
    .option('--json', 'print one JSON object (the contract in docs/cli.md)')
    .action(async (path: string, options: { model: string; denoiser?: string; site?: string; profile: string; backend?: string; out?: string; json?: boolean }) => {
      if (!existsSync(path)) throw new SiteAgentError(`no such study: ${path}`, 'not_found');
      const siteDir = resolveSiteDir(options.site);
      const site = existsSync(`${siteDir}/site.yaml`) ? SiteFolder.open(siteDir) : null;
      const { denoiser, classifier } = commandModels(site, options);
      const logger = createLogger({ level: 'warn' });
      const backend = options.backend ?? site?.config.backend ?? 'auto';
      const engine = createPipelineEngine({ profile: site?.config.profile ?? options.profile, backend, logger });
      let result;
      try {
        result = await predictStudy({ path, engine, denoiser, classifier, ...(site ? { archive: siteArchive(site, engine), evaluations: (sha: string) => site.index.latestEvaluation(sha) } : {}), ...(options.out ? { outDir: options.out } : {}) });
      } finally {
        site?.close();
      }
      if (options.json) return printJson(result);
      const p = result.probabilities;
      printLines([
        `${result.prediction.toUpperCase()}  (${CLASS_NAMES.map((name) => `${name} ${(p[name] * 100).toFixed(1)} %`).join(', ')})`,
        `model ${result.model.version} (${result.model.sha256.slice(0, 12)}), denoiser ${result.model.denoiser.version}; backend ${result.backend}; ${(result.timingMs.total / 1000).toFixed(1)} s`,
        ...(result.calibration ? [`BatchNorm statistics from this site's ${result.calibration.studies} studies of ${result.calibration.scanner}`] : []),
        evaluationLine(result.evaluation, site !== null),
        ...(result.picture ? [`picture: ${result.picture}`] : []),
        ...result.warnings.map((w) => `warning: ${w}`),
        'Research software: not a medical device; a clinician must read the study.',
      ]);
    });
}
