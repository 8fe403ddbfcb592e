import { describe, expect, it } from 'vitest';
import { ConfigError } from '@fedct/protocol';
import { loadCoordinatorConfig, resolveCoordinatorConfig } from './coordinator.config';

describe(loadCoordinatorConfig.name, () => {
  it('takes tokens, port and data folder from the environment', () => {
    const config = loadCoordinatorConfig(undefined, { FEDCT_ADMIN_TOKEN: 'x'.repeat(20), FEDCT_PORT: '0', FEDCT_DATA_DIR: '/tmp/fedct-x' });
    expect(config).toMatchObject({ port: 0, dataDir: '/tmp/fedct-x', adminToken: 'x'.repeat(20), host: '127.0.0.1' });
    expect(config.limits.maxConcurrentUploads).toBe(32);
    expect(config).toMatchObject({ pingIntervalMs: 25_000, pingTimeoutMs: 60_000 });
    expect(loadCoordinatorConfig(undefined, { FEDCT_ADMIN_TOKEN: 'x'.repeat(20), FEDCT_PING_TIMEOUT_MS: '90000' }).pingTimeoutMs).toBe(90_000);
    expect(() => resolveCoordinatorConfig({ adminToken: 'x'.repeat(20), pingTimeoutMs: 10 })).toThrow(/pingTimeoutMs/);
    expect(config.heapGrowingPercent).toBe(100);
    expect(loadCoordinatorConfig(undefined, { FEDCT_ADMIN_TOKEN: 'x'.repeat(20), FEDCT_HEAP_GROWING_PERCENT: '0' }).heapGrowingPercent).toBe(0);
    expect(() => resolveCoordinatorConfig({ adminToken: 'x'.repeat(20), heapGrowingPercent: -1 })).toThrow(/heapGrowingPercent/);
  });

  it('explains a short admin token and a non-numeric port in one line', () => {
    expect(() => resolveCoordinatorConfig({ adminToken: 'short' })).toThrow(/adminToken: must be at least 16 characters/);
    expect(() => loadCoordinatorConfig(undefined, { FEDCT_ADMIN_TOKEN: 'x'.repeat(20), FEDCT_PORT: 'eighty' })).toThrow(ConfigError);
  });

  it('reads the example configuration', () => {
    const config = loadCoordinatorConfig('configs/coordinator.example.yaml', {});
    expect(config.chunkSize).toBe(524288);
    expect(config.tls).toBeUndefined();
  });
});
