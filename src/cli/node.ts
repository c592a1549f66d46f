import type { Command } from 'commander';

// Placeholder until the node command lands; keeps the CLI wiring in one place.
export function registerNode(program: Command): void {
  program
    .command('node')
    .description('(not yet implemented)')
    .action(() => {
      throw new Error('kiln node is not implemented yet');
    });
}
