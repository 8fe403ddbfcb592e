import type { Command } from 'commander';

export function registerPhantom(program: Command): void {
  program.command('phantom').description('(being built)').action(() => {
    throw new Error('fedct-site phantom is not built yet');
  });
}
