import { existsSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { z } from 'zod';
import { loadConfigFile } from '@fedct/protocol';
import { SiteFolderError } from '../util/errors';
import type { SitePaths } from './site-paths';

/** Backends a site may ask for; `auto` takes the fastest that loads (GPU first). */
export const backendPreferenceSchema = z.enum(['auto', 'tensorflow-gpu', 'tensorflow', 'native', 'wasm', 'cpu']);

/** `DIR/site.yaml`. Unknown keys are refused so that a typo is not silently ignored. */
export const siteConfigSchema = z
  .object({
    site: z.object({ name: z.string().min(1).max(100).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash and underscore only') }).strict(),
    backend: backendPreferenceSchema.default('auto'),
    /** Pipeline profile name (`tiny`, `default`, `paper`) or a profile file. */
    profile: z.string().min(1).default('default'),
    logging: z.object({ level: z.enum(['debug', 'info', 'warn', 'error']).default('info'), format: z.enum(['auto', 'json', 'text']).default('auto') }).strict().default({ level: 'info', format: 'auto' }),
    daemon: z
      .object({
        heartbeatSeconds: z.number().positive().max(3600).default(15),
        reconnectInitialMs: z.number().int().positive().default(1000),
        reconnectMaxMs: z.number().int().positive().default(60_000),
        /** CA file to verify a coordinator with a private certificate (HTTPS/WSS). */
        caFile: z.string().min(1).optional(),
      })
      .strict()
      .default({ heartbeatSeconds: 15, reconnectInitialMs: 1000, reconnectMaxMs: 60_000 }),
  })
  .strict();
export type SiteConfig = z.output<typeof siteConfigSchema>;

/** Reads and validates `DIR/site.yaml`; a missing folder says to run `init`. */
export function loadSiteConfig(paths: SitePaths): SiteConfig {
  if (!existsSync(paths.config)) {
    throw new SiteFolderError(`${paths.root} is not a site folder (no site.yaml): run \`fedct-site init ${paths.root}\` first`);
  }
  return loadConfigFile(siteConfigSchema, paths.config);
}

/** Writes `DIR/site.yaml` with a comment header. */
export function writeSiteConfig(paths: SitePaths, config: SiteConfig): void {
  const header = '# fedct site agent configuration (see configs/site-agent.example.yaml for every key)\n';
  writeFileSync(paths.config, header + stringify(config), { mode: 0o600 });
}
