import type { Command } from 'commander';

// Placeholder until the verify command lands; keeps the CLI wiring in one place.
export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('(not yet implemented)')
    .action(() => {
      throw new Error('kiln verify is not implemented yet');
    });
}
