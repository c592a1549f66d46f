import type { Command } from 'commander';

// Placeholder until the diff command lands; keeps the CLI wiring in one place.
export function registerDiff(program: Command): void {
  program
    .command('diff')
    .description('(not yet implemented)')
    .action(() => {
      throw new Error('kiln diff is not implemented yet');
    });
}
