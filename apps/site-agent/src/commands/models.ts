import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { decodeModelBlob, sha256Hex } from '@fedct/protocol';
import { modelFile } from '../client/transfers';
import type { LoadedModel } from '../predict/predict.service';
import type { SiteFolder } from '../site/site-folder';
import { SiteAgentError } from '../util/errors';

/** A model file as a command loads it, under the version given. */
export function loadModelFile(file: string, version: string): LoadedModel {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (cause) {
    throw new SiteAgentError(`cannot read model file ${file}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, 'model_missing', { cause });
  }
  return { blob: decodeModelBlob(bytes), sha256: sha256Hex(bytes), version };
}

/** How {@link commandModels} reads a file, and what it says when a phase has no model. */
export interface ModelSource {
  load?: (file: string, version: string) => LoadedModel;
  /** The error message for a phase with neither a file nor a fetched global model (`flag`: its option). */
  missing?: (phase: 'denoiser' | 'classifier', flag: string) => string;
}

/**
 * The denoiser and classifier a command uses: the files it was given, else the newest global models
 * the site's daemon fetched.
 * @throws SiteAgentError `model_missing` when neither is there.
 */
export function commandModels(site: SiteFolder | null, files: { model?: string | undefined; denoiser?: string | undefined }, source: ModelSource = {}): { denoiser: LoadedModel; classifier: LoadedModel } {
  const load = source.load ?? loadModelFile;
  const missing = source.missing ?? ((phase, flag) => `no ${phase} model: pass ${flag} FILE, or run the daemon until it has fetched a global model (--site DIR)`);
  const latest = site?.latestModels() ?? { denoiser: null, classifier: null };
  const pick = (phase: 'denoiser' | 'classifier', file: string | undefined): LoadedModel => {
    if (file && file !== 'latest') return load(file, `file:${basename(file)}`);
    const ref = latest[phase];
    if (!site || !ref) throw new SiteAgentError(missing(phase, phase === 'classifier' ? '--model' : '--denoiser'), 'model_missing');
    return load(modelFile(site.paths.models, ref.sha256), ref.version);
  };
  return { denoiser: pick('denoiser', files.denoiser), classifier: pick('classifier', files.model) };
}
