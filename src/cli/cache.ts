import type { Command } from 'commander';

export function registerCache(program: Command): void {
  program
    .command('cache')
    .description('(being written)')
    .action(() => {
      throw new Error('kiln cache is not implemented yet');
    });
}
