import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands';

/** One line for a person; the full error only with FEDCT_DEBUG=1. */
export function formatError(error: unknown): string {
  if (process.env.FEDCT_DEBUG === '1' && error instanceof Error && error.stack) return error.stack;
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}

export function buildProgram(): Command {
  const program = new Command('fedct-site')
    .description('fedct site agent: import local CT studies, train CovidCTNet when the consortium asks, predict for clinicians.\nNo image, pixel or derived volume ever leaves this machine.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerCommands(program);
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode;
    }
    process.stderr.write(`fedct-site: ${formatError(error)}\n`);
    return 1;
  }
}
