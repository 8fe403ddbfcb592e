import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { decodeModelBlob, sha256Hex } from '@fedct/protocol';
import { modelFile } from '../daemon/transfers';
import type { LoadedModel } from '../predict/predict.service';
import type { SiteFolder } from '../site/site-folder';
import { SiteAgentError } from '../util/errors';

/** A model file as a command loads it (its version reads `file:NAME`). */
export function loadModelFile(file: string, version = `file:${basename(file)}`): LoadedModel {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (cause) {
    throw new SiteAgentError(`cannot read model file ${file}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, 'model_missing', { cause });
  }
  return { blob: decodeModelBlob(bytes), sha256: sha256Hex(bytes), version };
}

/**
 * The denoiser and classifier a command uses: the files it was given, else the newest global models
 * the site's daemon fetched.
 * @throws SiteAgentError `model_missing` when neither is there.
 */
export function commandModels(site: SiteFolder | null, files: { model?: string; denoiser?: string }): { denoiser: LoadedModel; classifier: LoadedModel } {
  const latest = site?.latestModels() ?? { denoiser: null, classifier: null };
  const fromSite = (phase: 'denoiser' | 'classifier'): LoadedModel => {
    const ref = latest[phase];
    if (!site || !ref) {
      throw new SiteAgentError(`no ${phase} model: pass --${phase === 'classifier' ? 'model' : 'denoiser'} FILE, or run the daemon until it has fetched a global model (--site DIR)`, 'model_missing');
    }
    return loadModelFile(modelFile(site.paths.models, ref.sha256), ref.version);
  };
  const classifier = files.model && files.model !== 'latest' ? loadModelFile(files.model) : fromSite('classifier');
  const denoiser = files.denoiser ? loadModelFile(files.denoiser) : fromSite('denoiser');
  return { denoiser, classifier };
}
