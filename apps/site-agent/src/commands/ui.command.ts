import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { siteArchive, type LoadedModel } from '../predict/predict.service';
import { SiteFolder } from '../site/site-folder';
import { resolveSiteDir } from '../site/site-paths';
import { createPipelineEngine } from '../training/pipeline-engine';
import { SiteAgentError } from '../util/errors';
import { createLogger } from '../util/logger';
import { createEnginePredictor, type ViewerModels } from '../ui/ui.predictor';
import { commandModels, loadModelFile } from './models';
import { startUiServer } from '../ui/ui.server';
import type { ViewerStudy } from '../ui/ui.types';

interface UiOptions {
  port: string;
  host: string;
  site?: string;
  model?: string;
  denoiser?: string;
  profile: string;
  backend?: string;
}

const cache = new Map<string, LoadedModel>();

/** A model file, read once per viewer process (a new global model has a new file name). */
function loadModel(file: string, version: string): LoadedModel {
  const hit = cache.get(file);
  if (hit) return hit;
  const loaded = loadModelFile(file, version);
  cache.set(file, loaded);
  return loaded;
}

/** The models for the next prediction: files given on the command line, else the daemon's latest. */
function resolveModels(site: SiteFolder | null, options: UiOptions): ViewerModels {
  return commandModels(site, options, {
    load: loadModel,
    missing: (phase, flag) => `no global ${phase} model yet: start fedct-site ui with ${flag} FILE, or let the daemon fetch one (fedct-site run)`,
  });
}

export function registerUi(program: Command): void {
  program
    .command('ui')
    .description('open the clinicians\' viewer in a browser: pick a study, run the prediction locally, scroll the slices with the infection map; nothing leaves this machine')
    .option('--port <n>', 'port to listen on (0 = any free port)', '8642')
    .option('--host <addr>', 'interface to listen on; keep 127.0.0.1 unless the viewer must be reached from another machine', '127.0.0.1')
    .option('-s, --site <dir>', 'site folder: the local dataset and the latest global models (default: $FEDCT_SITE_DIR or the current folder)')
    .option('--model <file>', 'classifier (3-D CNN) model file instead of the latest global model')
    .option('--denoiser <file>', 'BCDU-Net model file instead of the latest global denoiser')
    .option('--profile <name>', 'model profile when no site folder is used', 'default')
    .option('--backend <name>', 'compute backend: auto, tensorflow-gpu, tensorflow, native, wasm, cpu')
    .action(async (options: UiOptions) => {
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new SiteAgentError(`--port must be a port number, got "${options.port}"`, 'bad_option');
      const siteDir = resolveSiteDir(options.site);
      const site = existsSync(join(siteDir, 'site.yaml')) ? SiteFolder.open(siteDir) : null;
      const logger = createLogger({ level: 'info' });
      const engine = createPipelineEngine({ profile: site?.config.profile ?? options.profile, backend: options.backend ?? site?.config.backend ?? 'auto', logger });
      const listStudies = (): ViewerStudy[] =>
        (site?.index.list() ?? []).map((s) => ({ id: s.seriesInstanceUid, label: s.label, split: s.split, slices: s.shape[0], sourcePath: s.sourcePath, importedAt: s.importedAt }));
      const server = await startUiServer({
        host: options.host,
        port,
        logger,
        predictor: createEnginePredictor({ engine, models: () => resolveModels(site, options), ...(site ? { archive: siteArchive(site, engine), evaluations: (sha: string) => site.index.latestEvaluation(sha) } : {}) }),
        listStudies,
        info: () => {
          let model: { version: string | null; sha256: string } | null = null;
          try {
            const classifier = resolveModels(site, options).classifier;
            model = { version: classifier.version, sha256: classifier.sha256 };
          } catch {
            model = null;
          }
          return { siteName: site?.config.site.name ?? null, model };
        },
      });
      process.stdout.write(`fedct-site ui: open ${server.url} in a browser (Ctrl-C to stop)\n`);
      if (options.host !== '127.0.0.1' && options.host !== 'localhost' && options.host !== '::1') {
        logger.warn('the viewer is reachable from other machines: it shows patient images and has no login', { host: options.host });
      }
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
      site?.close();
    });
}
