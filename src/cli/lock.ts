import type { Command } from 'commander';

export function registerLock(program: Command): void {
  program
    .command('lock')
    .description('(being written)')
    .action(() => {
      throw new Error('kiln lock is not implemented yet');
    });
}
