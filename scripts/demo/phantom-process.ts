/**
 * `node scripts/run-ts.js scripts/demo/phantom-process.ts JOBS.json`: writes a share of the demo's
 * synthetic studies (the `library` mode's generator and DICOM writer, in a process of its own so that
 * the demo writes `--parallel` shares at once). Prints `wrote N` after each study.
 */
import { readFileSync } from 'node:fs';
import { writePhantomJobs, type PhantomShard } from './hospitals';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: phantom-process.ts JOBS.json\n');
  process.exit(2);
}
const shard = JSON.parse(readFileSync(file, 'utf8')) as PhantomShard;
writePhantomJobs(shard.jobs, shard.slices, (done) => process.stdout.write(`wrote ${done}\n`)).catch((error: unknown) => {
  process.stderr.write(`phantoms failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
