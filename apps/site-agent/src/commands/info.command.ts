import type { Command } from 'commander';

export function registerInfo(program: Command): void {
  program.command('info').description('(being built)').action(() => {
    throw new Error('fedct-site info is not built yet');
  });
}
