import { Command } from 'commander';
import { kilnVersion } from './version.js';

type Register = (program: Command) => void;

/** Each command's module, loaded only when wanted: together they pull in fastify, sqlite and the Kubernetes models. */
const COMMANDS: Record<string, () => Promise<Register>> = {
  lock: async () => (await import('./lock.js')).registerLock,
  build: async () => (await import('./build.js')).registerBuild,
  cache: async () => (await import('./cache.js')).registerCache,
  diff: async () => (await import('./diff.js')).registerDiff,
  verify: async () => (await import('./verify.js')).registerVerify,
  sign: async () => (await import('./sign.js')).registerSign,
  serve: async () => (await import('./serve.js')).registerServe,
  node: async () => (await import('./node.js')).registerNode,
  inventory: async () => (await import('./inventory.js')).registerInventory,
  registry: async () => (await import('./registry.js')).registerRegistry,
  eeprom: async () => (await import('./eeprom.js')).registerEeprom,
  pin: async () => (await import('./pin.js')).registerPin,
};

function program(): Command {
  return (
    new Command('kiln')
      .description(
        'Reproducible ARM64 Debian images with k3s for Raspberry Pi fleets: build them, serve them ' +
          'over netboot so a Pi with a dead disk reinstalls itself, and prove two builds are the same bytes.',
      )
      .version(kilnVersion)
      .showHelpAfterError()
      // errors reach bin/kiln.js, which maps each to its exit code once (src/cli/failure.ts)
      .exitOverride()
  );
}

/** The whole CLI, every command registered (help, tests). */
export async function buildProgram(): Promise<Command> {
  const p = program();
  for (const load of Object.values(COMMANDS)) (await load())(p);
  return p;
}

export async function main(argv: string[]): Promise<void> {
  // A plain `kiln <command> ...` loads just that command: loading all of them took ~1 s, a third of
  // a no-op `kiln build`. Anything else (help, a typo, options first) gets the whole CLI.
  const load = COMMANDS[argv[2] ?? ''];
  if (load) {
    const p = program();
    (await load())(p);
    await p.parseAsync(argv);
    return;
  }
  await (await buildProgram()).parseAsync(argv);
}
