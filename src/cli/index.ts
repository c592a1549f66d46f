import { Command } from 'commander';
import { registerBuild } from './build.js';
import { registerLock } from './lock.js';
import { registerCache } from './cache.js';
import { registerDiff } from './diff.js';
import { registerVerify } from './verify.js';
import { registerServe } from './serve.js';
import { registerNode } from './node.js';
import { registerInventory } from './inventory.js';

import { kilnVersion } from './version.js';

export function buildProgram(): Command {
  const program = new Command('kiln')
    .description(
      'Reproducible ARM64 Debian images with k3s for Raspberry Pi fleets: build them, serve them ' +
        'over netboot so a Pi with a dead disk reinstalls itself, and prove two builds are the same bytes.',
    )
    .version(kilnVersion)
    .showHelpAfterError();
  registerLock(program);
  registerBuild(program);
  registerCache(program);
  registerDiff(program);
  registerVerify(program);
  registerServe(program);
  registerNode(program);
  registerInventory(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}
