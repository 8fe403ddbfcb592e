import type { Command } from 'commander';

export function registerPreprocess(program: Command): void {
  program.command('preprocess').description('(being built)').action(() => {
    throw new Error('fedct-site preprocess is not built yet');
  });
}
