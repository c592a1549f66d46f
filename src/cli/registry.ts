import { createReadStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { storeLabel } from '../serve/nodes/store/open.js';
import { exportRegistry, importRegistry } from '../serve/nodes/store/transfer.js';
import { type StoreFlags, stateDirOption, storeOption, withStore } from './store-options.js';

// `kiln registry export | import`: the way from one machine's SQLite registry to a PostgreSQL
// store shared by serving agents (docs/runbooks/kiln-on-the-cluster.md), and back.

/** The export holds credential hashes and unused install tokens: written 0600, whole or not at all. */
async function exportToFile(o: StoreFlags, out: string): Promise<{ nodes: number; events: number }> {
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    const counts = await withStore(o, (s) =>
      exportRegistry(s, async (l) => {
        await fh.write(`${JSON.stringify(l)}\n`);
      }),
    );
    await fh.sync();
    await fh.close();
    await rename(tmp, out);
    return counts;
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
}

export function registerRegistry(program: Command): void {
  const reg = program
    .command('registry')
    .summary('export or import the whole node registry (move from SQLite to PostgreSQL)')
    .description(
      [
        'Copy the node registry, every node and every event with its id, between stores: the SQLite file in --state-dir (the default) and a PostgreSQL database shared by serving agents (--store postgres://…).',
        'The export holds credential hashes and unused install tokens: keep it like the registry itself. Put a PostgreSQL password in PGPASSWORD or ~/.pgpass, not in the URL (the URL shows in `ps`).',
      ].join('\n\n'),
    );
  reg
    .command('export')
    .description(
      'Write the registry as JSON lines (one header, the nodes, the events in id order, an end line with the counts), read as one consistent moment.',
    )
    .option(...stateDirOption)
    .option(...storeOption)
    .requiredOption('-o, --out <file>', 'file to write (created 0600; "-" for standard output)')
    .action(async (o: StoreFlags & { out: string }) => {
      if (o.out === '-') {
        await withStore(o, (s) =>
          exportRegistry(s, async (l) => {
            process.stdout.write(`${JSON.stringify(l)}\n`);
          }),
        );
        return;
      }
      const c = await exportToFile(o, o.out);
      process.stderr.write(`exported ${c.nodes} nodes and ${c.events} events from ${storeLabel(o)} to ${o.out}\n`);
    });

  reg
    .command('import <file>')
    .description(
      'Load an export into an empty store, all or nothing: a store that holds nodes or events already, a changed or truncated file, imports nothing. Stop kiln serve (every agent) while you move.',
    )
    .option(...stateDirOption)
    .option(...storeOption)
    .action(async (file: string, o: StoreFlags) => {
      const rl = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
      // readline emits lines as soon as the file is read, and a line emitted before anyone iterates
      // is lost (its end with it: the import then waited forever). Opening PostgreSQL takes long
      // enough for that, so the iterator, which buffers, is taken now rather than after the open.
      const lines = rl[Symbol.asyncIterator]();
      const c = await withStore(o, (s) => importRegistry(s, { [Symbol.asyncIterator]: () => lines }));
      process.stderr.write(`imported ${c.nodes} nodes and ${c.events} events into ${storeLabel(o)}\n`);
    });
}
