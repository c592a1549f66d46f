import type { NodeRecord } from './nodes/model.js';

// Ansible script-inventory JSON (`--list`), in the shape ansible/inventory/kiln expects:
// groups `server` and `agent`, per-host variables under _meta.hostvars.

export interface Inventory {
  server: { hosts: string[] };
  agent: { hosts: string[] };
  _meta: { hostvars: Record<string, Record<string, string | boolean>> };
}

export function k3sServerUrl(nodes: NodeRecord[], override?: string): string | undefined {
  if (override) return override;
  const first = nodes.find((n) => n.role === 'server' && n.clusterInit) ?? nodes.find((n) => n.role === 'server' && n.plan !== 'discovered');
  return first ? `https://${first.ip ?? first.name}:6443` : undefined;
}

export function buildInventory(nodes: NodeRecord[], serverUrlOverride?: string): Inventory {
  const inv: Inventory = { server: { hosts: [] }, agent: { hosts: [] }, _meta: { hostvars: {} } };
  const url = k3sServerUrl(nodes, serverUrlOverride);
  for (const n of nodes) {
    if (n.plan === 'discovered') continue;
    inv[n.role].hosts.push(n.name);
    const vars: Record<string, string | boolean> = {
      ansible_host: n.ip ?? n.name,
      kiln_role: n.role,
      kiln_state: n.state,
      kiln_plan: n.plan,
      kiln_cluster_init: n.clusterInit,
    };
    if (n.serial) vars.kiln_serial = n.serial;
    if (n.mac) vars.kiln_mac = n.mac;
    if (n.image) vars.kiln_image = n.image;
    if (n.model) vars.kiln_model = n.model;
    if (url && !n.clusterInit) vars.k3s_server_url = url;
    inv._meta.hostvars[n.name] = vars;
  }
  return inv;
}
