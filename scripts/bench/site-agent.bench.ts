import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createBcduNet, createCnn3d, generatePhantomStudy, getModelBlob, initBackend, loadProfile, writePhantomDicom } from '@fedct/pipeline';
import { encodeModelBlob, sha256Hex, type ModelBlob } from '@fedct/protocol';
import { createLogger, createPipelineEngine, importStudies, initSiteFolder, MAX_CALIBRATION_STUDIES, predictStudy, siteArchive, silentLogger, type LoadedModel } from '@fedct/site-agent';
import type { BenchSuite } from './types';

const REAL_SERIES = resolve(__dirname, '..', '..', '..', 'shared', 'data', 'ct', 'lung-pet-ct-dx-A0002-8mm');

function loaded(blob: ModelBlob, version: string): LoadedModel {
  return { blob, sha256: sha256Hex(encodeModelBlob(blob)), version };
}

/**
 * `fedct-site predict` time per study (read + preprocess + infection map + classifier + PNG), for each
 * profile's network sizes, on a 512 × 512 phantom series and on the real 30-slice series in
 * ../shared/data/ct. The networks carry seeded initial weights: time does not depend on the values.
 * For a profile whose classifier has BatchNorm, also the phantom predicted with site-local statistics
 * from a site whose archive holds MAX_CALIBRATION_STUDIES studies of its scanner model: once with the
 * archive's infection maps still to extract (cold), once from the site's map cache (warm).
 */
const run: BenchSuite = async function* ({ quick }) {
  const backend = await initBackend();
  const root = mkdtempSync(join(tmpdir(), 'fedct-bench-predict-'));
  try {
    const phantom = join(root, 'phantom');
    await writePhantomDicom(generatePhantomStudy({ cls: 'covid-19', seed: 7, scanner: 'toshiba-aquilion' }), phantom);
    const studies: [string, string][] = [['phantom-toshiba-512-8mm', phantom]];
    if (existsSync(REAL_SERIES)) studies.push(['lung-pet-ct-dx-A0002-8mm', REAL_SERIES]);
    for (const profileName of quick ? ['tiny', 'default'] : ['tiny', 'default', 'paper']) {
      const profile = loadProfile(profileName);
      const bcdu = createBcduNet(profile.models.bcdunet, { seed: 1 });
      const cnn = createCnn3d(profile.models.cnn3d, { seed: 2 });
      const denoiser = loaded(getModelBlob(bcdu, 'bcdunet', profile.models.bcdunet), `${profileName}-init`);
      const classifier = loaded(getModelBlob(cnn, 'cnn3d', profile.models.cnn3d), `${profileName}-init`);
      bcdu.dispose();
      cnn.dispose();
      const engine = createPipelineEngine({ profile: profileName, backend: backend.name, logger: createLogger({ level: 'error' }) });
      const site = profile.models.cnn3d.batchNorm ? await archiveSite(join(root, `site-${profileName}`), quick) : null;
      const runs: [string, string, 'cold' | 'warm' | null][] = studies.map(([name, path]) => [name, path, null]);
      if (site) runs.push(['phantom-toshiba-512-8mm', phantom, 'cold'], ['phantom-toshiba-512-8mm', phantom, 'warm']);
      for (const [name, path, cache] of runs) {
        const archive = cache && site ? { archive: siteArchive(site, engine) } : {};
        const result = await predictStudy({ path, engine, denoiser, classifier, outDir: join(root, 'out'), ...archive });
        yield {
          metric: cache ? 'site.predict_site_statistics.seconds_per_study' : 'site.predict.seconds_per_study',
          value: result.timingMs.total / 1000,
          unit: 's',
          backend: result.backend,
          profile: profileName,
          study: name,
          slices: result.study.modelReadyShape[0],
          preprocess_s: result.timingMs.preprocess / 1000,
          infection_s: result.timingMs.infection / 1000,
          ...(cache ? { archive_cache: cache, archive_studies: result.calibration?.studies ?? 0, calibrate_s: result.timingMs.calibrate / 1000 } : {}),
          classify_s: result.timingMs.classify / 1000,
          picture_s: result.timingMs.picture / 1000,
        };
      }
      engine.dispose();
      site?.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
};
/** A site folder whose unlabeled archive holds MAX_CALIBRATION_STUDIES thin phantoms of the benchmark phantom's scanner model. */
async function archiveSite(dir: string, quick: boolean): Promise<ReturnType<typeof initSiteFolder>> {
  const site = initSiteFolder(dir);
  const studies = join(dir, '..', `${dir.split('/').pop() ?? 'site'}-archive`);
  for (let i = 0; i < MAX_CALIBRATION_STUDIES; i++) {
    const cls = (['control', 'covid-19', 'cap'] as const)[i % 3] ?? 'control';
    await writePhantomDicom(generatePhantomStudy({ cls, seed: 100 + i, scanner: 'toshiba-aquilion', slices: quick ? 8 : 16 }), join(studies, `s${i}`));
  }
  await importStudies(site, studies, { label: 'archive', split: 'train', logger: silentLogger });
  return site;
}

export default run;
