import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '@fedct/protocol';
import { siteConfigSchema } from './site-config';
import { sitePolicySchema } from './site-policy';

const CONFIGS = resolve(__dirname, '..', '..', '..', '..', 'configs');

describe('example site configuration files', () => {
  it('configs/site-agent.example.yaml is a valid site.yaml', () => {
    const config = loadConfigFile(siteConfigSchema, resolve(CONFIGS, 'site-agent.example.yaml'));
    expect(config.site.name).toBe('hospital-a');
    expect(config.daemon.heartbeatSeconds).toBe(15);
  });

  it('configs/site-policy.example.yaml is a valid policy.yaml', () => {
    const policy = loadConfigFile(sitePolicySchema, resolve(CONFIGS, 'site-policy.example.yaml'));
    expect(policy.requireDp).toEqual({ maxClipNorm: 5, minNoiseMultiplier: 0.3 });
  });
});
