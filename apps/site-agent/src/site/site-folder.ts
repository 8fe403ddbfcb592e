import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { fingerprint, fromBase64, generateIdentity, loadIdentity, saveIdentity, type Identity } from '@fedct/crypto';
import { parseConfig } from '@fedct/protocol';
import { DatasetIndex } from '../data/dataset-index';
import { VolumeCache } from '../data/volume-cache';
import { SiteFolderError } from '../util/errors';
import { loadSiteConfig, siteConfigSchema, writeSiteConfig, type SiteConfig } from './site-config';
import { DEFAULT_POLICY, loadSitePolicy, writeSitePolicy, type SitePolicy } from './site-policy';
import { sitePaths, type SitePaths } from './site-paths';

/** `DIR/enrollment.json`: written by `enroll`, read by `run`. The coordinator's keys are pinned here. */
export const enrollmentSchema = z
  .object({
    coordinatorUrl: z.string().url(),
    siteId: z.string().min(1),
    siteName: z.string().min(1),
    coordinator: z.object({ signingPublicKey: z.string().min(1), boxPublicKey: z.string().min(1), fingerprint: z.string().min(1) }).strict(),
    enrolledAt: z.string(),
  })
  .strict();
export type Enrollment = z.infer<typeof enrollmentSchema>;

/** `DIR/models/latest.json`: the newest global model the daemon fetched, per phase. */
export const latestModelsSchema = z.object({
  denoiser: z.object({ version: z.string(), sha256: z.string() }).nullable().default(null),
  classifier: z.object({ version: z.string(), sha256: z.string() }).nullable().default(null),
});
export type LatestModels = z.infer<typeof latestModelsSchema>;

export interface InitOptions {
  name?: string;
  profile?: string;
  backend?: SiteConfig['backend'];
  /** Deterministic keys (tests only). */
  identitySeed?: Uint8Array;
}

/**
 * Creates a site folder: `site.yaml`, `policy.yaml`, new keys (owner-only), the dataset index and the
 * cache folders. Refuses a folder that already holds a site.
 */
export function initSiteFolder(dir: string, options: InitOptions = {}): SiteFolder {
  const paths = sitePaths(dir);
  if (existsSync(paths.config) || existsSync(paths.keys)) {
    throw new SiteFolderError(`${paths.root} already holds a site (site.yaml or keys/ exist); choose an empty folder`);
  }
  if (existsSync(paths.root) && !statSync(paths.root).isDirectory()) {
    throw new SiteFolderError(`${paths.root} is not a folder`);
  }
  mkdirSync(paths.root, { recursive: true, mode: 0o700 });
  chmodSync(paths.root, 0o700);
  for (const sub of [paths.volumes, paths.infection, paths.models, paths.transfers, paths.logs]) mkdirSync(sub, { recursive: true, mode: 0o700 });
  const config = parseConfig(
    siteConfigSchema,
    { site: { name: options.name ?? sanitizeName(basename(paths.root)) }, profile: options.profile ?? 'default', backend: options.backend ?? 'auto' },
    'init options',
  );
  writeSiteConfig(paths, config);
  writeSitePolicy(paths, DEFAULT_POLICY);
  saveIdentity(paths.keys, generateIdentity(options.identitySeed));
  new DatasetIndex(paths.index).close();
  return SiteFolder.open(dir);
}

function sanitizeName(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9._-]/g, '-');
  return clean.length > 0 ? clean : 'site';
}

/** An opened site folder: configuration, policy, index, cache, identity and enrolment. */
export class SiteFolder {
  private indexInstance: DatasetIndex | null = null;

  private constructor(
    readonly paths: SitePaths,
    readonly config: SiteConfig,
    readonly policy: SitePolicy,
  ) {}

  /** Opens and validates a site folder; one-line errors say what to run. */
  static open(dir: string): SiteFolder {
    const paths = sitePaths(dir);
    return new SiteFolder(paths, loadSiteConfig(paths), loadSitePolicy(paths));
  }

  get index(): DatasetIndex {
    this.indexInstance ??= new DatasetIndex(this.paths.index);
    return this.indexInstance;
  }

  get volumes(): VolumeCache {
    return new VolumeCache(this.paths.volumes);
  }

  /** The site's keys (refuses key files readable by group or others). */
  identity(): Identity {
    return loadIdentity(this.paths.keys);
  }

  /** The site's fingerprint, to compare with what the coordinator admin sees. */
  fingerprint(): string {
    return fingerprint(this.identity().signing.publicKey);
  }

  /** The enrolment, or null before `enroll`. */
  enrollment(): Enrollment | null {
    if (!existsSync(this.paths.enrollment)) return null;
    return parseConfig(enrollmentSchema, JSON.parse(readFileSync(this.paths.enrollment, 'utf8')), this.paths.enrollment);
  }

  /** The enrolment; throws a one-line error saying to run `enroll` when missing. */
  requireEnrollment(): Enrollment {
    const enrollment = this.enrollment();
    if (!enrollment) throw new SiteFolderError(`site ${this.config.site.name} is not enrolled: run \`fedct-site enroll --coordinator URL --token TOKEN\` first`);
    // Check the pinned keys decode, so that a hand-edited file fails here rather than mid-round.
    fromBase64(enrollment.coordinator.signingPublicKey);
    fromBase64(enrollment.coordinator.boxPublicKey);
    return enrollment;
  }

  saveEnrollment(enrollment: Enrollment): void {
    writeFileSync(this.paths.enrollment, `${JSON.stringify(enrollment, null, 2)}\n`, { mode: 0o600 });
  }

  latestModels(): LatestModels {
    if (!existsSync(this.paths.latestModel)) return { denoiser: null, classifier: null };
    return parseConfig(latestModelsSchema, JSON.parse(readFileSync(this.paths.latestModel, 'utf8')), this.paths.latestModel);
  }

  saveLatestModels(latest: LatestModels): void {
    mkdirSync(this.paths.models, { recursive: true, mode: 0o700 });
    writeFileSync(this.paths.latestModel, `${JSON.stringify(latest, null, 2)}\n`, { mode: 0o600 });
  }

  /**
   * Removes one study from the index and, when no other study or archive entry uses the same volume,
   * its cached model-ready volume and infection maps (every denoiser's). Returns how many files were
   * deleted. The source files are never touched.
   */
  removeStudy(seriesInstanceUid: string): number {
    const study = this.index.get(seriesInstanceUid);
    if (!study) return 0;
    this.index.remove(seriesInstanceUid);
    if (this.index.volumeInUse(study.volumeSha256)) return 0;
    const sha = study.volumeSha256;
    const files = [join(this.paths.volumes, `${sha}.f32`), join(this.paths.volumes, `${sha}.json`)];
    if (existsSync(this.paths.infection)) {
      for (const denoiser of readdirSync(this.paths.infection)) {
        const dir = join(this.paths.infection, denoiser);
        for (const f of readdirSync(dir)) if (f.startsWith(`${sha}.`)) files.push(join(dir, f));
      }
    }
    let removed = 0;
    for (const f of files) {
      if (!existsSync(f)) continue;
      rmSync(f);
      removed += 1;
    }
    return removed;
  }

  close(): void {
    this.indexInstance?.close();
    this.indexInstance = null;
  }
}
