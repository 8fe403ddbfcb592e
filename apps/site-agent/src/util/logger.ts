/** Log levels, least to most severe. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Structured fields attached to a log line (JSON-able). */
export type LogFields = Record<string, string | number | boolean | null | undefined | readonly (string | number)[]>;

/** The site agent's logger: one structured event per call. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** `json`: one JSON object per line (services, pipes); `text`: human lines (terminals). */
  format?: 'json' | 'text';
  /** Where lines go; stderr by default so that `--json` output on stdout stays clean. */
  write?: (line: string) => void;
  /** Clock, for tests. */
  now?: () => Date;
}

/** A logger that writes JSON lines when not attached to a terminal and short text lines when it is. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = ORDER[options.level ?? 'info'];
  const format = options.format ?? (process.stderr.isTTY ? 'text' : 'json');
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = options.now ?? (() => new Date());
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (ORDER[level] < min) return;
    const clean: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(fields ?? {})) if (value !== undefined) clean[key] = value;
    if (format === 'json') {
      write(JSON.stringify({ time: now().toISOString(), level, msg, ...clean }));
    } else {
      const extra = Object.entries(clean)
        .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
        .join(' ');
      write(`${level === 'info' ? '' : `${level}: `}${msg}${extra ? `  (${extra})` : ''}`);
    }
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}

/** A logger that drops everything (tests, library-style callers). */
export const silentLogger: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** A logger that keeps every event in memory (tests). */
export function memoryLogger(): Logger & { events: { level: LogLevel; msg: string; fields: LogFields; at: number }[] } {
  const events: { level: LogLevel; msg: string; fields: LogFields; at: number }[] = [];
  const push = (level: LogLevel) => (msg: string, fields: LogFields = {}) => {
    events.push({ level, msg, fields, at: Date.now() });
  };
  return { events, debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}
