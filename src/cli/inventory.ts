import type { Command } from 'commander';
import { buildInventory } from '../serve/inventory.js';
import { type StoreFlags, stateDirOption, storeOption, withRegistry } from './store-options.js';

export function registerInventory(program: Command): void {
  program
    .command('inventory')
    .summary('print the fleet as an Ansible script inventory (JSON)')
    .description(
      [
        "Print the registered nodes in Ansible's script-inventory format: groups `server` and `agent`, host variables (ansible_host, kiln_serial, kiln_mac, kiln_role, kiln_state, k3s_server_url) under _meta.hostvars.",
        'ansible/inventory/kiln runs this command, or GET /api/inventory when KILN_URL is set. Discovered but unregistered Pis are left out.',
      ].join('\n\n'),
    )
    .option(...stateDirOption)
    .option(...storeOption)
    .option('--list', 'the whole inventory (the default; accepted for Ansible compatibility)')
    .option('--host <name>', 'only the variables of one host')
    .option('--k3s-server-url <url>', 'server URL for joining nodes (default: https://<cluster-init server>:6443)')
    .action(async (o: StoreFlags & { host?: string; k3sServerUrl?: string }) => {
      const inv = buildInventory(await withRegistry(o, (r) => r.list()), o.k3sServerUrl);
      const out = o.host ? (inv._meta.hostvars[o.host] ?? {}) : inv;
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    });
}
