import type { ServeMetrics } from '../metrics.js';
import type { NodeRegistry } from '../nodes/registry.js';
import type { TftpServerOptions } from './server.js';

// What the TFTP path writes to the registry, as the server's hooks: the server decides when
// (plan/tftp.ts says which node a request is for), these say what is recorded.

export type TftpRegistryHooks = Required<Pick<TftpServerOptions, 'onSeen' | 'onServed' | 'installToken'>>;

export function tftpRegistryHooks(registry: NodeRegistry, metrics: ServeMetrics): TftpRegistryHooks {
  return {
    // Anyone can ask for a node's files: the time only, never the asker's address.
    onSeen: (n) => registry.seen(n.name),
    onServed: async (n, path, bytes, seconds) => {
      if ((await registry.activity(n.name, 'file-fetched', { path, bytes, seconds }, { key: path })) === 'folded') {
        metrics.eventsFolded.inc({ type: 'file-fetched' });
      }
    },
    installToken: (n) => registry.installTokenFor(n.name),
  };
}
