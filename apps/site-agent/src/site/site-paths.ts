import { join, resolve } from 'node:path';

/**
 * Where everything of one site lives. Only this folder is written to; raw CT data is read in place.
 * ```
 * DIR/site.yaml           configuration (site name, backend, profile, logging)
 * DIR/policy.yaml         the site's own rules for tasks (the coordinator cannot change it)
 * DIR/keys/               the site's identity (Ed25519 + X25519), owner-only files
 * DIR/enrollment.json     after `enroll`: coordinator URL, site id, pinned coordinator public keys
 * DIR/index.sqlite        the local dataset index (studies, labels, splits)
 * DIR/cache/volumes/      model-ready volumes: <sha256>.f32 (Float32 LE) + <sha256>.json (header)
 * DIR/cache/infection/    infection volumes per BCDU-Net sha: <bcduSha>/<volumeSha>.f32
 * DIR/models/             global models (<sha256>.fctm) fetched by the daemon, latest.json
 * DIR/transfers/          partial downloads and pending sealed updates (resume after a disconnect)
 * DIR/logs/               where the service unit sends logs when not using journald
 * ```
 */
export interface SitePaths {
  root: string;
  config: string;
  policy: string;
  keys: string;
  enrollment: string;
  index: string;
  volumes: string;
  infection: string;
  models: string;
  latestModel: string;
  transfers: string;
  logs: string;
}

/** Resolves the paths of a site folder (nothing is created). */
export function sitePaths(dir: string): SitePaths {
  const root = resolve(dir);
  return {
    root,
    config: join(root, 'site.yaml'),
    policy: join(root, 'policy.yaml'),
    keys: join(root, 'keys'),
    enrollment: join(root, 'enrollment.json'),
    index: join(root, 'index.sqlite'),
    volumes: join(root, 'cache', 'volumes'),
    infection: join(root, 'cache', 'infection'),
    models: join(root, 'models'),
    latestModel: join(root, 'models', 'latest.json'),
    transfers: join(root, 'transfers'),
    logs: join(root, 'logs'),
  };
}

/** The site folder: `--site DIR`, else `FEDCT_SITE_DIR`, else the current directory. */
export function resolveSiteDir(option: string | undefined): string {
  return resolve(option ?? process.env.FEDCT_SITE_DIR ?? '.');
}
