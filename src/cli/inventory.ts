import type { Command } from 'commander';

// Placeholder until the inventory command lands; keeps the CLI wiring in one place.
export function registerInventory(program: Command): void {
  program
    .command('inventory')
    .description('(not yet implemented)')
    .action(() => {
      throw new Error('kiln inventory is not implemented yet');
    });
}
