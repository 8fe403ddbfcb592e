import { runCli } from './cli';

runCli(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`fedct-site: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
