import { Command } from 'commander';
import { vi } from 'vitest';
import { registerInventory } from '../../../src/cli/inventory.js';
import { registerNode } from '../../../src/cli/node.js';

/** Runs `kiln <args> --state-dir <state>` in-process (node and inventory commands); returns stdout. */
export async function kilnCli(state: string, ...args: string[]): Promise<string> {
  const program = new Command('kiln').exitOverride();
  registerNode(program);
  registerInventory(program);
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(['node', 'kiln', ...args, '--state-dir', state]);
  } finally {
    vi.restoreAllMocks();
  }
  return out;
}
