import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { SiteFolder } from '../site/site-folder';
import { daemonStatePath, type DaemonState } from '../daemon/daemon-state';
import { openSite, printJson, printLines, withSiteOption } from './common';

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user (e.g. the service account).
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The daemon's last written state, with `running`: false when the process that wrote it is gone
 * (killed, crashed) although the state says otherwise; then `state` is `not running`.
 */
export function daemonStatus(site: SiteFolder): (Omit<DaemonState, 'state'> & { state: DaemonState['state'] | 'not running'; running: boolean }) | null {
  const statePath = daemonStatePath(site.paths);
  if (!existsSync(statePath)) return null;
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as DaemonState;
  const running = state.state !== 'stopped' && processAlive(state.pid);
  return { ...state, state: running || state.state === 'stopped' ? state.state : 'not running', running };
}

/** Everything `status` reports (also used by tests). */
export function collectStatus(site: SiteFolder): Record<string, unknown> {
  const enrollment = site.enrollment();
  const daemon = daemonStatus(site);
  return {
    site: site.config.site.name,
    folder: site.paths.root,
    fingerprint: site.fingerprint(),
    profile: site.config.profile,
    backendPreference: site.config.backend,
    enrolled: enrollment
      ? { coordinator: enrollment.coordinatorUrl, siteId: enrollment.siteId, coordinatorFingerprint: enrollment.coordinator.fingerprint, at: enrollment.enrolledAt }
      : null,
    dataset: site.index.counts(),
    skipped: site.index.skipped().length,
    models: site.latestModels(),
    policy: site.policy,
    daemon,
  };
}

export function registerStatus(program: Command): void {
  withSiteOption(program.command('status').description('show the site: enrolment, dataset counts, latest models, what the daemon is doing'))
    .option('--json', 'print one JSON object')
    .action((options: { site?: string; json?: boolean }) => {
      const site = openSite(options);
      const status = collectStatus(site);
      site.close();
      if (options.json) return printJson(status);
      const enrolled = status.enrolled as { coordinator: string; siteId: string; coordinatorFingerprint: string } | null;
      const dataset = status.dataset as { studies: number; slices: number; byLabel: Record<string, number>; bySplit: Record<string, number> };
      const models = status.models as { denoiser: { version: string } | null; classifier: { version: string } | null };
      const daemon = status.daemon as ReturnType<typeof daemonStatus>;
      const last = daemon?.lastRound;
      printLines([
        `site:        ${String(status.site)} (${String(status.folder)})`,
        `fingerprint: ${String(status.fingerprint)}`,
        `enrolled:    ${enrolled ? `${enrolled.coordinator} as ${enrolled.siteId} (coordinator ${enrolled.coordinatorFingerprint})` : 'no — run fedct-site enroll'}`,
        `dataset:     ${dataset.studies} studies, ${dataset.slices} slices; ${Object.entries(dataset.byLabel).map(([k, v]) => `${k} ${v}`).join(', ')}; ${Object.entries(dataset.bySplit).map(([k, v]) => `${k} ${v}`).join(', ')}`,
        `skipped:     ${String(status.skipped)} source(s) (see fedct-site data --skipped)`,
        `models:      denoiser ${models.denoiser?.version ?? '-'}, classifier ${models.classifier?.version ?? '-'}`,
        `daemon:      ${daemon ? `${daemon.state === 'not running' ? `not running (process ${daemon.pid} is gone; its last state was written ${daemon.since})` : `${daemon.state} since ${daemon.since}`}${daemon.backend ? `, backend ${daemon.backend}` : ''}${daemon.task && daemon.running ? `, task ${daemon.task}` : ''}${daemon.lastError ? `, last error: ${daemon.lastError}` : ''}` : 'never started'}`,
        `last round:  ${last ? `${last.experiment} round ${last.round}: ${last.result}${last.detail ? ` (${last.detail})` : ''} at ${last.at}` : 'none yet'}`,
      ]);
    });
}
