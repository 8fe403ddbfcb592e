import type { Command } from 'commander';
import {
  backendInfo,
  createBcduNet,
  createCnn3d,
  forwardFlops,
  initBackend,
  isBackendName,
  loadProfile,
  type BackendName,
} from '@fedct/pipeline';
import { openSite, withSiteOption } from './common';

/** `fedct-site info [--json] [--profile NAME|FILE] [--backend NAME]`: compute backend and model sizes (docs/cli.md). */
export function registerInfo(program: Command): void {
  withSiteOption(
    program
      .command('info')
      .description('show the compute backend and the sizes of the two networks for a profile (a site folder\'s, with --site)'),
  )
    .option('--json', 'print one JSON object')
    .option('--profile <name>', 'profile name (tiny, default, paper) or file (default: the site\'s with --site, else default)')
    .option('--backend <name>', 'auto, tensorflow-gpu, tensorflow, native, wasm or cpu (default: the site\'s or the profile\'s)')
    .action(async (opts: { json?: boolean; profile?: string; backend?: string; site?: string }) => {
      // With --site, the site's own profile and backend (what its daemon and predict use).
      const site = opts.site !== undefined ? openSite(opts) : null;
      const siteConfig = site?.config ?? null;
      site?.close();
      const profile = loadProfile(opts.profile ?? siteConfig?.profile ?? 'default');
      const wanted = opts.backend ?? (siteConfig && siteConfig.backend !== 'auto' ? siteConfig.backend : profile.backend);
      if (wanted !== 'auto' && !isBackendName(wanted)) {
        throw new Error(`unknown backend "${wanted}": use auto, tensorflow-gpu, tensorflow, native, wasm or cpu`);
      }
      const backend = await initBackend(wanted as BackendName | 'auto');
      const bcdunet = createBcduNet(profile.models.bcdunet);
      const cnn3d = createCnn3d(profile.models.cnn3d);
      const result = {
        backend: backend.name,
        threads: backend.threads,
        simd: backend.simd,
        ...(backend.native ? { native: backend.native } : {}),
        profile: profile.name,
        models: {
          bcdunet: { params: bcdunet.countParams(), gflopPerSlice: forwardFlops(bcdunet) / 1e9, config: profile.models.bcdunet },
          cnn3d: { params: cnn3d.countParams(), gflopPerStudy: forwardFlops(cnn3d) / 1e9, config: profile.models.cnn3d },
        },
        customKernels: backend.customKernels,
        skippedBackends: backend.skipped,
        node: process.version,
      };
      bcdunet.dispose();
      cnn3d.dispose();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(result)}\n`);
        return;
      }
      const info = backendInfo();
      const lines = [
        `backend   ${result.backend} (${result.threads} thread${result.threads === 1 ? '' : 's'}${result.simd ? ', SIMD' : ''}${backend.native ? `, oneDNN ${backend.native.version} on ${backend.native.isa}` : ''})`,
        ...(info?.skipped ?? []).map((s) => `          skipped ${s.name}: ${s.reason}`),
        `profile   ${result.profile}`,
        `bcdunet   ${result.models.bcdunet.params.toLocaleString('en-US')} parameters, ${result.models.bcdunet.gflopPerSlice.toFixed(2)} GFLOP per ${profile.models.bcdunet.size} x ${profile.models.bcdunet.size} slice`,
        `cnn3d     ${result.models.cnn3d.params.toLocaleString('en-US')} parameters, ${result.models.cnn3d.gflopPerStudy.toFixed(2)} GFLOP per ${profile.models.cnn3d.inputShape.join(' x ')} study`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
