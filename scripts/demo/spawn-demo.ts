import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

/**
 * Runs the demo as `npm run demo -- ARGS` does, in a child process (for the e2e tests); on timeout it
 * is interrupted with SIGINT, which makes it stop every process it started.
 */
export function runDemoProcess(args: readonly string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  const root = resolve(__dirname, '..', '..');
  return new Promise((done) => {
    const child = spawn(process.execPath, ['scripts/run-ts.js', 'scripts/demo.ts', ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}
