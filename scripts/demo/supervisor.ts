import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { DemoError } from './errors';

/** A line-matching wait that has not been satisfied yet. */
interface LineWaiter {
  pattern: RegExp;
  resolve: (match: RegExpMatchArray) => void;
}

/** One child process the demo started: its output goes to a log file and can be waited on. */
export class ManagedProcess {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly waiters = new Set<LineWaiter>();
  private readonly tail: string[] = [];
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private partial = '';

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    private readonly log: WriteStream,
    readonly logFile: string,
    private readonly onLine?: (line: string) => void,
  ) {
    const feed = (chunk: Buffer): void => {
      log.write(chunk);
      const text = this.partial + chunk.toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) this.line(line);
    };
    child.stdout?.on('data', feed);
    child.stderr?.on('data', feed);
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        if (this.partial) this.line(this.partial);
        this.partial = '';
        this.exitInfo = { code, signal };
        log.write(`\n[demo] ${name} exited code=${code} signal=${signal}\n`);
        resolve(this.exitInfo);
      });
      child.on('error', (error) => {
        log.write(`\n[demo] ${name} failed to start: ${error.message}\n`);
        this.exitInfo = { code: -1, signal: null };
        resolve(this.exitInfo);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True while the process has not exited. */
  get running(): boolean {
    return this.exitInfo === null;
  }

  /** The last lines of output (for error messages). */
  lastLines(count = 8): string {
    return this.tail.slice(-count).join('\n');
  }

  /** Resolves with the first (future or already buffered in the tail) line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    for (const line of this.tail) {
      const match = line.match(pattern);
      if (match) return Promise.resolve(match);
    }
    return new Promise((resolve, reject) => {
      const waiter: LineWaiter = {
        pattern,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new DemoError(`${this.name}: no line matching ${pattern} within ${timeoutMs / 1000} s (log: ${this.logFile})`));
      }, timeoutMs);
      this.waiters.add(waiter);
      void this.exited.then((info) => {
        if (!this.waiters.has(waiter)) return;
        this.waiters.delete(waiter);
        clearTimeout(timer);
        reject(new DemoError(`${this.name} exited (code ${info.code}, signal ${info.signal}) before printing ${pattern}: ${this.lastLines(3).replace(/\n/g, ' | ')} (log: ${this.logFile})`));
      });
    });
  }

  /** Waits for a normal exit and fails with the process's last lines if the exit code is not 0. */
  async succeeded(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DemoError(`${this.name} did not finish within ${timeoutMs / 1000} s (log: ${this.logFile})`)), timeoutMs);
    });
    try {
      const info = await Promise.race([this.exited, timeout]);
      if (info.code !== 0) {
        throw new DemoError(`${this.name} failed (exit code ${info.code}${info.signal ? `, signal ${info.signal}` : ''}): ${this.lastLines(3).replace(/\n/g, ' | ')} (log: ${this.logFile})`);
      }
    } finally {
      clearTimeout(timer);
      if (this.running) this.kill('SIGKILL');
    }
  }

  /** Sends a signal (no-op once exited). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running && this.child.pid !== undefined) {
      try {
        process.kill(this.child.pid, signal);
      } catch {
        // already gone
      }
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once exited. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  private line(line: string): void {
    this.tail.push(line);
    if (this.tail.length > 200) this.tail.shift();
    this.onLine?.(line);
    for (const waiter of [...this.waiters]) {
      const match = line.match(waiter.pattern);
      if (match) {
        this.waiters.delete(waiter);
        waiter.resolve(match);
      }
    }
  }
}

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Called with every output line (progress parsing). */
  onLine?: (line: string) => void;
}

/**
 * Starts and tracks every child process of the demo, each with its own log file under `logDir`, and
 * makes sure none outlives the demo: {@link stopAll} on success, failure, Ctrl-C or SIGTERM.
 */
export class Supervisor {
  private readonly processes = new Set<ManagedProcess>();
  private readonly counts = new Map<string, number>();
  private signalHandler: ((signal: NodeJS.Signals) => void) | null = null;

  constructor(
    private readonly logDir: string,
    private readonly cwd: string,
  ) {
    mkdirSync(logDir, { recursive: true });
  }

  /** Runs `node SCRIPT args...` (the demo's children are all Node programs). */
  start(name: string, script: string, args: readonly string[], options: SpawnOptions = {}): ManagedProcess {
    const n = (this.counts.get(name) ?? 0) + 1;
    this.counts.set(name, n);
    const logFile = join(this.logDir, `${name}${n > 1 ? `.${n}` : ''}.log`);
    const log = createWriteStream(logFile, { flags: 'w' });
    const child = spawn(process.execPath, [script, ...args], {
      cwd: options.cwd ?? this.cwd,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const managed = new ManagedProcess(name, child, log, logFile, options.onLine);
    this.processes.add(managed);
    void managed.exited.then(() => {
      this.processes.delete(managed);
      log.end();
    });
    return managed;
  }

  /** Runs a command to completion and returns its output lines; fails with its last lines. */
  async run(name: string, script: string, args: readonly string[], options: SpawnOptions & { timeoutMs?: number } = {}): Promise<string> {
    const lines: string[] = [];
    const proc = this.start(name, script, args, {
      ...options,
      onLine: (line) => {
        lines.push(line);
        options.onLine?.(line);
      },
    });
    await proc.succeeded(options.timeoutMs ?? 120_000);
    return lines.join('\n');
  }

  /** Processes still running. */
  running(): ManagedProcess[] {
    return [...this.processes].filter((p) => p.running);
  }

  /** Stops every child (SIGTERM, then SIGKILL) and waits for them. */
  async stopAll(graceMs = 3000): Promise<void> {
    await Promise.all(this.running().map((p) => p.stop(graceMs)));
  }

  /** Kills every child synchronously (for `process.on('exit')`). */
  killAllNow(): void {
    for (const p of this.running()) p.kill('SIGKILL');
  }

  /**
   * On SIGINT/SIGTERM: stop every child, then exit with 130/143. On process exit: SIGKILL leftovers.
   * Returns a function that removes the handlers.
   */
  installSignalHandlers(onSignal: (signal: NodeJS.Signals) => void = () => undefined): () => void {
    const exitHandler = (): void => this.killAllNow();
    this.signalHandler = (signal) => {
      onSignal(signal);
      void this.stopAll(1500).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    };
    process.once('SIGINT', this.signalHandler);
    process.once('SIGTERM', this.signalHandler);
    process.on('exit', exitHandler);
    return () => {
      if (this.signalHandler) {
        process.off('SIGINT', this.signalHandler);
        process.off('SIGTERM', this.signalHandler);
      }
      process.off('exit', exitHandler);
    };
  }
}
