import { SingleBar, Presets } from 'cli-progress';
import type { Logger } from './logger';

/** Progress of one long piece of work: a bar on a terminal, a log line every few seconds otherwise. */
export interface Progress {
  start(total: number, label: string): void;
  update(done: number, detail?: string): void;
  stop(): void;
}

/** Picks a bar when stderr is a terminal, structured log lines otherwise. */
export function createProgress(logger: Logger, options: { tty?: boolean; intervalMs?: number } = {}): Progress {
  const tty = options.tty ?? Boolean(process.stderr.isTTY);
  if (tty) {
    const bar = new SingleBar({ format: '{label} [{bar}] {value}/{total} {detail}', stream: process.stderr, hideCursor: true }, Presets.shades_classic);
    let label = '';
    return {
      start: (total, l) => {
        label = l;
        bar.start(total, 0, { label, detail: '' });
      },
      update: (done, detail) => bar.update(done, { label, detail: detail ?? '' }),
      stop: () => bar.stop(),
    };
  }
  const intervalMs = options.intervalMs ?? 5000;
  let total = 0;
  let label = '';
  let last = 0;
  return {
    start: (t, l) => {
      total = t;
      label = l;
      last = Date.now();
      logger.info(`${label}: started`, { total });
    },
    update: (done, detail) => {
      const now = Date.now();
      if (now - last < intervalMs && done < total) return;
      last = now;
      logger.info(`${label}: progress`, { done, total, detail });
    },
    stop: () => undefined,
  };
}
