/**
 * The command-line parser of the research scripts: each script declares its options once (type,
 * default, one line of help) and gets them back typed. `--name value` and `--name=value`; a flag is
 * `--name` alone, or `--name 1` / `--name 0` (the scripts' older spelling). Unknown options, missing
 * values and bad numbers stop the script with one line on stderr (exit status 2); `--help` prints the
 * options (exit status 0). Not part of the product.
 */

export type OptionSpec =
  | { type: 'string'; default?: string; help: string; choices?: readonly string[] }
  | { type: 'number'; default?: number; help: string }
  | { type: 'flag'; default?: boolean; help: string };

export type OptionSpecs = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S extends { type: 'string' } ? string : S extends { type: 'number' } ? number : boolean;

/** Each option's value: always present when it has a default, otherwise `undefined` when not given. */
export type ParsedOptions<T extends OptionSpecs> = {
  [K in keyof T]: T[K] extends { default: string | number | boolean } ? ValueOf<T[K]> : ValueOf<T[K]> | undefined;
};

export interface CommandSpec<T extends OptionSpecs> {
  /** First line of `--help`, e.g. `node scripts/run-ts.js research/learn-check.ts [options]`. */
  usage: string;
  options: T;
  /** Whether arguments that are not options are allowed (returned as `positionals`); default false. */
  positionals?: boolean;
}

export interface ParsedArgs<T extends OptionSpecs> {
  options: ParsedOptions<T>;
  positionals: string[];
}

/** A command line the script cannot run with; the message is the one line the user sees. */
export class ArgumentError extends Error {
  override readonly name = 'ArgumentError';
}

/** Thrown by {@link readArgs} for `--help`: the text to print. */
export class HelpRequested extends Error {
  override readonly name = 'HelpRequested';
}

const FLAG_VALUES = new Map<string, boolean>([['1', true], ['true', true], ['0', false], ['false', false]]);

/** Parses `argv` (without the node and script paths) against `command`; throws {@link ArgumentError}. */
export function readArgs<T extends OptionSpecs>(command: CommandSpec<T>, argv: readonly string[]): ParsedArgs<T> {
  const values: Record<string, string | number | boolean | undefined> = {};
  const given = new Set<string>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith('--')) {
      if (!command.positionals) throw new ArgumentError(`unexpected argument "${token}"`);
      positionals.push(token);
      continue;
    }
    if (token === '--help') throw new HelpRequested(helpText(command));
    const eq = token.indexOf('=');
    const name = eq >= 0 ? token.slice(2, eq) : token.slice(2);
    const spec = Object.prototype.hasOwnProperty.call(command.options, name) ? command.options[name] : undefined;
    if (!spec) throw new ArgumentError(`unknown option --${name}`);
    if (given.has(name)) throw new ArgumentError(`--${name} is given twice`);
    given.add(name);
    const next = argv[i + 1];
    let raw: string | undefined = eq >= 0 ? token.slice(eq + 1) : undefined;
    if (spec.type === 'flag') {
      if (raw === undefined && next !== undefined && FLAG_VALUES.has(next)) raw = argv[++i];
      if (raw === undefined) values[name] = true;
      else if (FLAG_VALUES.has(raw)) values[name] = FLAG_VALUES.get(raw);
      else throw new ArgumentError(`--${name} is a flag (1 or 0), got "${raw}"`);
      continue;
    }
    if (raw === undefined) {
      if (next === undefined || next.startsWith('--')) throw new ArgumentError(`--${name} needs a value`);
      raw = argv[++i]!;
    }
    if (spec.type === 'number') {
      const value = raw.trim() === '' ? Number.NaN : Number(raw);
      if (!Number.isFinite(value)) throw new ArgumentError(`--${name} expects a number, got "${raw}"`);
      values[name] = value;
    } else {
      if (spec.choices && !spec.choices.includes(raw)) throw new ArgumentError(`--${name} must be one of ${spec.choices.join(', ')}, got "${raw}"`);
      values[name] = raw;
    }
  }
  for (const [name, spec] of Object.entries(command.options)) if (!given.has(name)) values[name] = spec.default;
  return { options: values as ParsedOptions<T>, positionals };
}

/**
 * {@link readArgs} over `process.argv`, for a script's `main`: prints the help and exits 0 on
 * `--help`, prints `SCRIPT: MESSAGE` and exits 2 on a bad command line.
 */
export function parseArgs<const T extends OptionSpecs>(command: CommandSpec<T>, argv: readonly string[] = process.argv.slice(2)): ParsedArgs<T> {
  try {
    return readArgs(command, argv);
  } catch (error) {
    if (error instanceof HelpRequested) {
      process.stdout.write(error.message);
      process.exit(0);
    }
    if (error instanceof ArgumentError) exitWithUsageError(error.message);
    throw error;
  }
}

/** Prints `SCRIPT: MESSAGE` (one line) and exits 2: for checks of option values beyond their type. */
export function exitWithUsageError(message: string): never {
  const script = (process.argv[1] ?? 'research').replace(/^.*[\\/]/, '').replace(/\.ts$/, '');
  process.stderr.write(`${script}: ${message} (--help lists the options)\n`);
  process.exit(2);
}

function helpText(command: CommandSpec<OptionSpecs>): string {
  const rows = Object.entries(command.options).map(([name, spec]) => {
    const left = `  --${name}${spec.type === 'flag' ? ' [1|0]' : spec.type === 'number' ? ' N' : ' VALUE'}`;
    const choices = spec.type === 'string' && spec.choices ? ` (${spec.choices.join(' | ')})` : '';
    const fallback = spec.default === undefined ? '' : ` (default ${spec.default === '' ? '""' : spec.default})`;
    return `${left.padEnd(24)} ${spec.help}${choices}${fallback}`;
  });
  return `usage: ${command.usage}\n${rows.join('\n')}\n`;
}
