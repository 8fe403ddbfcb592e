import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from './errors';
import { loadConfigFile } from './config';

const schema = z.object({ port: z.number().int().min(0).max(65535), host: z.string().default('127.0.0.1') }).strict();

function write(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fedct-config-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe(loadConfigFile.name, () => {
  it('reads YAML and applies defaults', () => {
    expect(loadConfigFile(schema, write('a.yaml', 'port: 8080\n'))).toEqual({ port: 8080, host: '127.0.0.1' });
  });

  it('reads JSON', () => {
    expect(loadConfigFile(schema, write('a.json', '{"port": 1, "host": "::1"}'))).toEqual({ port: 1, host: '::1' });
  });

  it('names the field and the expectation in one line', () => {
    const file = write('bad.yaml', 'port: "eighty"\n');
    expect(() => loadConfigFile(schema, file)).toThrow(ConfigError);
    try {
      loadConfigFile(schema, file);
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toContain('port');
      expect(message).toContain('number');
      expect(message).not.toContain('\n');
    }
  });

  it('rejects unknown fields', () => {
    expect(() => loadConfigFile(schema, write('c.yaml', 'port: 1\nprot: 2\n'))).toThrow(/prot/);
  });

  it('reports a missing file and broken syntax as one line', () => {
    expect(() => loadConfigFile(schema, '/nonexistent/fedct.yaml')).toThrow(/Cannot read configuration file .*ENOENT/);
    expect(() => loadConfigFile(schema, write('d.json', '{port'))).toThrow(/not valid JSON/);
  });
});
