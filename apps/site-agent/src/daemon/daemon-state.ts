import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SitePaths } from '../site/site-paths';

/** What the daemon is doing, written to `DIR/transfers/daemon-state.json` for `status`. */
export interface DaemonState {
  state: 'starting' | 'connecting' | 'online' | 'downloading' | 'training' | 'evaluating' | 'uploading' | 'offline' | 'stopped';
  since: string;
  pid: number;
  backend: string | null;
  coordinator: string | null;
  /** `experiment/round` of the task in hand. */
  task: string | null;
  lastRound: { experiment: string; round: number; result: 'accepted' | 'evaluated' | 'refused' | 'failed'; detail: string; at: string } | null;
  lastError: string | null;
}

export function daemonStatePath(paths: SitePaths): string {
  return join(paths.transfers, 'daemon-state.json');
}

/** Writes the state atomically. */
export function writeDaemonState(paths: SitePaths, state: DaemonState): void {
  const file = daemonStatePath(paths);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}
