/**
 * `npm run demo [-- --profile tiny|default|paper] [--faults]`: a coordinator and three hospital site
 * agents as separate processes on this machine train CovidCTNet federatedly on synthetic DICOM
 * studies; the result is evaluated on a fourth hospital's studies beside single-site and pooled
 * training, and written to demo-output/report.json and report.html. See docs/demo.md.
 */
import { resolve } from 'node:path';
import { DemoError } from './demo/errors';
import { parseDemoArgs } from './demo/options';
import { runDemo } from './demo/run-demo';
import { checkReport } from './demo/thresholds';

async function main(): Promise<void> {
  const args = parseDemoArgs(process.argv.slice(2));
  const repoRoot = resolve(__dirname, '..');
  const started = Date.now();
  const { report, reportJson, reportHtml } = await runDemo({
    profile: args.profile,
    repoRoot,
    outDir: resolve(repoRoot, args.out),
    faults: args.faults,
    parallel: args.parallel,
    ...(args.settings ? { settings: resolve(process.cwd(), args.settings) } : {}),
    print: (line) => process.stdout.write(`${line}\n`),
  });
  const best = report.singleSite.reduce((a, b) => Math.max(a, b.test.accuracy), 0);
  const pct = (v: number): string => `${(v * 100).toFixed(1)} %`;
  process.stdout.write(
    [
      '',
      `federated 3-class accuracy on ${report.external.name}: ${pct(report.federated.test.accuracy)} (AUC Covid-19 ${report.federated.test.auc.toFixed(3)})`,
      `best single site: ${pct(best)}; pooled centrally: ${pct(report.centralized.test.accuracy)}`,
      `${report.rounds.filter((r) => r.state === 'published').length} federated rounds in ${((Date.now() - started) / 1000).toFixed(0)} s`,
      `report: ${reportHtml}`,
      `        ${reportJson}`,
      '',
    ].join('\n'),
  );
  const problems = checkReport(report);
  if (problems.length === 0) process.stdout.write(`thresholds of the ${report.profile} profile: met\n`);
  else {
    process.stdout.write(`thresholds of the ${report.profile} profile NOT met:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
    if (args.check) process.exitCode = 3;
  }
}

main().catch((error: unknown) => {
  const message = error instanceof DemoError ? error.message : error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  process.stderr.write(`demo failed: ${message.split('\n')[0]}\n`);
  if (!(error instanceof DemoError) && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  process.exitCode = 1;
});
