import type { Command } from 'commander';
import { CLASS_NAMES } from '@fedct/protocol';
import { enrollSite } from '../site/enroll.service';
import { openSite, printJson, printLines, withSiteOption } from './common';

export function registerEnroll(program: Command): void {
  withSiteOption(
    program
      .command('enroll')
      .description('enrol this site with the coordinator once, using the one-time token from its admin; pins the coordinator\'s keys')
      .requiredOption('--coordinator <url>', 'coordinator URL, e.g. https://fedct.example.org')
      .requiredOption('--token <token>', 'one-time enrolment token from the coordinator admin')
      .option('--coordinator-fingerprint <fp>', 'refuse to enrol unless the coordinator\'s fingerprint is this (given by its admin)'),
  )
    .option('--json', 'print one JSON object')
    .action(async (options: { site?: string; coordinator: string; token: string; coordinatorFingerprint?: string; json?: boolean }) => {
      const site = openSite(options);
      try {
        const enrollment = await enrollSite(site, {
          coordinatorUrl: options.coordinator,
          token: options.token,
          ...(options.coordinatorFingerprint ? { expectFingerprint: options.coordinatorFingerprint } : {}),
        });
        if (options.json) return printJson({ ...enrollment, siteFingerprint: site.fingerprint() });
        printLines([
          `Enrolled as "${enrollment.siteName}" (site id ${enrollment.siteId}) with ${enrollment.coordinatorUrl}`,
          `  coordinator fingerprint: ${enrollment.coordinator.fingerprint} (pinned; compare with what the admin sees)`,
          `  this site's fingerprint: ${site.fingerprint()}`,
          `Next: fedct-site import PATH --label ${CLASS_NAMES.join('|')}, then fedct-site run (or start the service)`,
        ]);
      } finally {
        site.close();
      }
    });
}
