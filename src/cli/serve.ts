import type { Command } from 'commander';

// Placeholder until the serve command lands; keeps the CLI wiring in one place.
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('(not yet implemented)')
    .action(() => {
      throw new Error('kiln serve is not implemented yet');
    });
}
