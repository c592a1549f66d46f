import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { nodeInputSchema, type NodeRecord } from '../serve/nodes/model.js';
import { decodeRevision } from '../serve/plan/board.js';
import { netbootNote } from '../serve/plan/netboot-note.js';
import { stateDirOption, storeOption, withRegistry } from './store-options.js';
import { KilnError, firstIssue } from '../util/errors.js';

// `kiln node ...` works on the registry store directly (the SQLite file in WAL mode, or the shared
// PostgreSQL database), so it works with or without a running `kiln serve`, which sees the change
// at the next packet.

function line(n: NodeRecord): string {
  return [n.name, n.role, n.plan, n.state, n.model ?? '-', n.serial ?? '-', n.mac ?? '-', n.image ?? '(default)', n.ip ?? '-', n.lastSeen ?? '-'].join('\t');
}

/** What the node's revision code says, e.g. "Raspberry Pi 4 Model B rev 1.4, 8GB, BCM2711, Sony UK". */
function boardLine(n: NodeRecord): string | undefined {
  const b = n.boardRevision ? decodeRevision(n.boardRevision) : undefined;
  if (!b) return undefined;
  return [`${b.name} rev ${b.revision}`, b.memory, b.soc, b.manufacturer].filter((x) => x !== undefined).join(', ');
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function registerNode(program: Command): void {
  const node = program
    .command('node')
    .summary('register, list, reprovision and remove Pis in the node registry')
    .description(
      [
        'Manage the node registry that `kiln serve` answers from (SQLite in --state-dir); works with or without a running server.',
        'A node is found on the network by its serial (DHCP option 97, TFTP prefix) or its MAC. Its plan decides what happens when it netboots: `install` serves the installer and the image, `local` means it boots its own disk (with self-healing, which you turn on per node, a `local` node that netboots anyway is reinstalled once its installer proves with the credential on the old disk that it is the same node). Nodes declared in a nodes.yaml (kiln serve --nodes) are changed there instead.',
      ].join('\n\n'),
    );

  node
    .command('add <name>')
    .description(
      'Register a node, or update one you added before: what you give replaces its serial/MAC (kept when left out), role, image, disk, keys and --cluster-init; its plan is kept unless --plan. New nodes get plan `install`.',
    )
    .option(...stateDirOption)
    .option(...storeOption)
    .option('--serial <hex>', 'board serial, 8 hex digits (as the Pi prints it / its TFTP prefix)')
    .option('--mac <mac>', 'Ethernet MAC address')
    .option('--role <role>', 'k3s role: server or agent', 'agent')
    .option('--image <name>', 'image from the images dir (default: the serve default image)')
    .option('--plan <plan>', 'install (reinstall at next netboot) or local')
    .option('--disk <name>', 'disk the installer writes, e.g. mmcblk0, nvme0n1, sda (default: the first SD, NVMe, USB disk it finds)')
    .option('--cluster-init', 'this server starts a new cluster (exactly one server should)')
    .option('--self-heal', 'reinstall by itself when it netboots with plan local (its disk did not boot); off unless given')
    .option('--no-self-heal', 'turn self-healing off again')
    .option('--ssh-key <key>', 'authorized SSH public key line (repeatable)', collect)
    .option('--ssh-key-file <file>', 'file of authorized SSH public keys, one per line')
    .action(async (name: string, o: Record<string, string | string[] | boolean | undefined>) => {
      const keys = [...((o.sshKey as string[] | undefined) ?? [])];
      if (typeof o.sshKeyFile === 'string') {
        keys.push(
          ...(await readFile(o.sshKeyFile, 'utf8'))
            .split('\n')
            .map((l) => l.trim())
            .filter((l) => l && !l.startsWith('#')),
        );
      }
      const parsed = nodeInputSchema.safeParse({
        name,
        serial: o.serial,
        mac: o.mac,
        role: o.role,
        image: o.image,
        plan: o.plan,
        disk: o.disk,
        clusterInit: o.clusterInit === true,
        // --self-heal defined before --no-self-heal: undefined (keep the node's setting) unless given
        selfHeal: typeof o.selfHeal === 'boolean' ? o.selfHeal : undefined,
        sshKeys: keys,
      });
      if (!parsed.success) throw new KilnError(firstIssue(parsed.error, 'node'));
      const n = await withRegistry({ stateDir: o.stateDir as string, store: o.store as string | undefined }, (r) => r.upsert(parsed.data));
      process.stdout.write(`${line(n)}\n`);
    });

  node
    .command('list')
    .description('List nodes: name, role, plan, state, board model (from its netboot DHCP request), serial, MAC, image, last address, last seen.')
    .option(...stateDirOption)
    .option(...storeOption)
    .option('--json', 'print JSON')
    .action(async (o: { stateDir: string; json?: boolean }) => {
      const nodes = await withRegistry(o, (r) => r.list());
      if (o.json) {
        process.stdout.write(`${JSON.stringify(nodes, null, 2)}\n`);
        return;
      }
      const rows = ['NAME\tROLE\tPLAN\tSTATE\tMODEL\tSERIAL\tMAC\tIMAGE\tIP\tLAST SEEN', ...nodes.map(line)];
      process.stdout.write(`${rows.join('\n')}\n`);
    });

  node
    .command('show <name>')
    .description('Show one node and its event timeline (DHCP seen, files fetched, install progress, ...).')
    .option(...stateDirOption)
    .option(...storeOption)
    .option('--json', 'print JSON')
    .action(async (name: string, o: { stateDir: string; json?: boolean }) => {
      const { n, events } = await withRegistry(o, async (r) => ({ n: await r.mustGet(name), events: await r.events({ node: name, limit: 1000 }) }));
      const note = netbootNote(n, events);
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ node: n, events, ...(note ? { netboot: note } : {}) }, null, 2)}\n`);
        return;
      }
      const out = Object.entries(n).map(([k, v]) => `${k}: ${Array.isArray(v) ? `${v.length} key(s)` : String(v)}`);
      const board = boardLine(n);
      if (board) out.push(`board: ${board}`);
      if (note) out.push(`netboot: ${note}`);
      // several agents sharing a store: which one saw it
      out.push('', 'events:', ...events.map((e) => `  ${e.at}  ${e.agent ? `${e.agent}  ` : ''}${e.type}  ${JSON.stringify(e.data)}`));
      process.stdout.write(`${out.join('\n')}\n`);
    });

  node
    .command('reprovision <name>')
    .description('Set the plan to `install`: at its next netboot the node is reinstalled from its image.')
    .option(...stateDirOption)
    .option(...storeOption)
    .action(async (name: string, o: { stateDir: string }) => {
      const n = await withRegistry(o, (r) => r.reprovision(name));
      process.stdout.write(`${n.name}: plan install; it reinstalls at its next network boot\n`);
    });

  node
    .command('park <name>')
    .description(
      'Stop answering a node (DHCP, TFTP, HTTP) until it is unparked or reprovisioned; kiln parks a node by itself after three failed installs in a row.',
    )
    .option(...stateDirOption)
    .option(...storeOption)
    .option('--reason <text>', 'why, kept in its state and its events', 'parked by the operator')
    .action(async (name: string, o: { stateDir: string; reason: string }) => {
      await withRegistry(o, (r) => r.park(name, o.reason));
      process.stdout.write(`${name}: parked (${o.reason})\n`);
    });

  node
    .command('unpark <name>')
    .description('Answer a parked node again, with its plan as it was; its count of failed installs starts again from zero.')
    .option(...stateDirOption)
    .option(...storeOption)
    .action(async (name: string, o: { stateDir: string }) => {
      const n = await withRegistry(o, (r) => r.unpark(name));
      process.stdout.write(`${n.name}: unparked; plan ${n.plan}\n`);
    });

  node
    .command('remove <name>')
    .description('Remove a node from the registry (its event history is kept).')
    .option(...stateDirOption)
    .option(...storeOption)
    .action(async (name: string, o: { stateDir: string }) => {
      await withRegistry(o, (r) => r.remove(name));
      process.stdout.write(`${name}: removed\n`);
    });
}
