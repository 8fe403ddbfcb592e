import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { COORDINATOR_CLI } from './hospitals';
import type { ManagedProcess, Supervisor } from './supervisor';

export interface CoordinatorHandle {
  process: ManagedProcess;
  url: string;
  port: number;
}

/**
 * Starts `fedct-coordinator start --config FILE` with its own data folder and admin token and
 * returns the URL it prints. `port` 0 lets the system choose; a restart passes the first run's port
 * so that enrolled sites find it again.
 */
export async function startCoordinatorProcess(
  supervisor: Supervisor,
  options: { outDir: string; dataDir: string; adminToken: string; port: number; onLine?: (line: string) => void },
): Promise<CoordinatorHandle> {
  const configFile = join(options.outDir, 'coordinator.yaml');
  const config = { host: '127.0.0.1', port: options.port, dataDir: options.dataDir, adminToken: options.adminToken, schedulerIntervalMs: 200, logFormat: 'text' };
  writeFileSync(configFile, `# written by npm run demo\n${stringify(config)}`, { mode: 0o600 });
  const proc = supervisor.start('coordinator', COORDINATOR_CLI, ['start', '--config', configFile], options.onLine ? { onLine: options.onLine } : {});
  const match = await proc.waitForLine(/listening on (https?:\/\/[^\s]+)/, 120_000);
  const url = (match[1] ?? '').replace(/\/$/, '');
  return { process: proc, url, port: Number(new URL(url).port) };
}
