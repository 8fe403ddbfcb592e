/**
 * `node scripts/run-ts.js scripts/demo/baseline-process.ts JOB.json`: trains one baseline of the demo
 * report (scripts/demo/baseline.ts) and writes its weights where the job says. Started by the demo,
 * one per core; progress goes to stdout, one line per few epochs.
 */
import { runBaselineJob } from './baseline';

const jobFile = process.argv[2];
if (!jobFile) {
  process.stderr.write('usage: baseline-process.ts JOB.json\n');
  process.exit(2);
}
runBaselineJob(jobFile, (line) => process.stdout.write(`${line}\n`)).catch((error: unknown) => {
  process.stderr.write(`baseline failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
