import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fingerprint, loadIdentity } from '@fedct/crypto';
import { initSiteFolder, SiteFolder } from './site-folder';

function tempDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'fedct-site-')), 'hospital-a');
}

describe(initSiteFolder.name, () => {
  it('creates an owner-only folder with config, policy, keys and an empty index', () => {
    const dir = tempDir();
    const site = initSiteFolder(dir, { profile: 'tiny' });
    expect(site.config.site.name).toBe('hospital-a');
    expect(site.config.profile).toBe('tiny');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'keys', 'identity.key')).mode & 0o077).toBe(0);
    expect(readFileSync(join(dir, 'policy.yaml'), 'utf8')).toContain('acceptPhases');
    expect(site.fingerprint()).toBe(fingerprint(loadIdentity(join(dir, 'keys')).signing.publicKey));
    expect(site.index.counts().studies).toBe(0);
    expect(site.enrollment()).toBeNull();
    expect(() => site.requireEnrollment()).toThrow(/not enrolled: run `fedct-site enroll/);
    site.close();
  });

  it('refuses to overwrite an existing site and explains a missing one', () => {
    const dir = tempDir();
    initSiteFolder(dir).close();
    expect(() => initSiteFolder(dir)).toThrow(/already holds a site/);
    expect(() => SiteFolder.open(join(dir, 'nope'))).toThrow(/run `fedct-site init/);
  });

  it('reports a broken site.yaml in one line naming the field', () => {
    const dir = tempDir();
    initSiteFolder(dir).close();
    writeFileSync(join(dir, 'site.yaml'), 'site:\n  name: a\nbackend: quantum\n');
    expect(() => SiteFolder.open(dir)).toThrow(/backend/);
    expect(existsSync(join(dir, 'index.sqlite'))).toBe(true);
  });
});
