import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from './errors';

/**
 * Formats the first zod issue as one line: `field.path: message`.
 * A person reads this line, so it names the field and what was expected.
 */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid value';
  const where = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
  return `${where}: ${issue.message}`;
}

/** Validates `value` against `schema`; throws {@link ConfigError} with one line naming the field. */
export function parseConfig<S extends z.ZodType>(schema: S, value: unknown, source: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new ConfigError(`Invalid configuration in ${source}: ${describeIssue(result.error)}`, { cause: result.error });
  }
  return result.data;
}

/** Reads a YAML (`.yaml`, `.yml`) or JSON file and validates it; every failure is a one-line {@link ConfigError}. */
export function loadConfigFile<S extends z.ZodType>(schema: S, file: string): z.output<S> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`Cannot read configuration file ${file}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, { cause });
  }
  let raw: unknown;
  try {
    raw = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    throw new ConfigError(`Configuration file ${file} is not valid ${extname(file) === '.json' ? 'JSON' : 'YAML'}: ${detail}`, { cause });
  }
  return parseConfig(schema, raw ?? {}, file);
}
