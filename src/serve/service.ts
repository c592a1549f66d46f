import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { log } from '../util/log.js';
import type { RenderContext } from './bootplan.js';
import { loadTemplates } from './cloudinit.js';
import { advertisedAddress, type ServeConfig } from './config.js';
import { LeasePool } from './dhcp/pool.js';
import { DhcpServer } from './dhcp/server.js';
import { buildHttp } from './http/app.js';
import { loadImages } from './images.js';
import { ServeLookup } from './lookup.js';
import { ServeMetrics } from './metrics.js';
import { NodeRegistry } from './nodes/registry.js';
import { syncNodesFile } from './nodes/yaml.js';
import { canBindLowPorts, lowPortError } from './privileges.js';
import { apiToken, k3sToken } from './secrets.js';
import { KilnTftpServer } from './tftp/server.js';

// Composes the registry, images, HTTP, TFTP and DHCP into the running `kiln serve`.

export function registryPath(stateDir: string): string {
  return join(stateDir, 'kiln.db');
}

export interface RunningService {
  httpUrl: string;
  registry: NodeRegistry;
  /** Re-reads the images dir and nodes.yaml (SIGHUP). */
  reload(): Promise<void>;
  close(): Promise<void>;
}

export async function startService(cfg: ServeConfig): Promise<RunningService> {
  for (const [what, port, on] of [
    ['DHCP', cfg.dhcpPort, cfg.dhcp],
    ['TFTP', cfg.tftpPort, cfg.tftp],
    ['HTTP', cfg.httpPort, true],
  ] as const) {
    if (on && port < 1024 && !canBindLowPorts()) throw lowPortError(what, port);
  }
  const serverIp = advertisedAddress(cfg);
  if ((cfg.dhcp || cfg.tftp) && !serverIp) {
    throw new Error('cannot tell nodes where kiln is: give --advertise <ip> or --interface <name>');
  }
  await mkdir(cfg.stateDir, { recursive: true, mode: 0o700 });
  const registry = new NodeRegistry(registryPath(cfg.stateDir));
  const closers: (() => Promise<void>)[] = [async () => registry.close()];
  const closeAll = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch((err: Error) => log.warn({ err: err.message }, 'close failed'));
  };
  try {
    if (cfg.nodesFile) {
      const names = await syncNodesFile(registry, cfg.nodesFile);
      log.info({ file: cfg.nodesFile, nodes: names.length }, 'applied nodes file');
    }
    const images = await loadImages(cfg.imagesDir);
    if (images.size === 0) log.warn({ imagesDir: cfg.imagesDir }, 'no images found: nodes will not be answered');
    const lookup = new ServeLookup(registry, images, cfg.defaultImage);
    const metrics = new ServeMetrics();
    metrics.bindNodeStates(() => registry.countByState());
    const host = serverIp ?? '127.0.0.1';
    const ctx: RenderContext = {
      httpBase: `http://${host}:${cfg.httpPort}`,
      installToken: (n) => registry.installTokenFor(n.name),
    };

    const app: FastifyInstance = await buildHttp({
      registry,
      lookup,
      metrics,
      imagesDir: cfg.imagesDir,
      apiToken: await apiToken(cfg.stateDir),
      k3sToken: await k3sToken(cfg.stateDir, cfg.k3sToken),
      templates: await loadTemplates(cfg.templatesDir),
      ctx,
      k3sServerUrl: cfg.k3sServerUrl,
    });
    await app.listen({ host: cfg.listen, port: cfg.httpPort });
    closers.push(() => app.close());

    if (cfg.tftp) {
      const tftp = new KilnTftpServer({
        host: cfg.listen,
        port: cfg.tftpPort,
        lookup,
        ctx,
        metrics,
        maxBlockSize: cfg.tftpMaxBlockSize,
        onSeen: (n) => registry.seen(n.name),
        onServed: (n, path, bytes, seconds) => registry.record(n.name, 'file-fetched', { path, bytes, seconds }),
      });
      await tftp.start();
      closers.push(() => tftp.stop());
    }

    if (cfg.dhcp && serverIp) {
      const pool =
        cfg.mode === 'full' && cfg.pool
          ? {
              leases: new LeasePool(cfg.pool.start, cfg.pool.end, cfg.pool.leaseSeconds, [serverIp]),
              mask: cfg.pool.mask,
              router: cfg.pool.router,
              dns: cfg.pool.dns,
              leaseSeconds: cfg.pool.leaseSeconds,
            }
          : undefined;
      const dhcp = new DhcpServer({
        mode: cfg.mode,
        serverIp,
        port: cfg.dhcpPort,
        discovery: cfg.discovery,
        registry,
        lookup,
        metrics,
        pool,
      });
      await dhcp.start();
      closers.push(() => dhcp.stop());
    }
    log.info(
      { http: ctx.httpBase, mode: cfg.dhcp ? cfg.mode : 'off', tftp: cfg.tftp, images: [...images.keys()] },
      'kiln serve ready',
    );
    return {
      httpUrl: ctx.httpBase,
      registry,
      async reload() {
        if (cfg.nodesFile) await syncNodesFile(registry, cfg.nodesFile);
        lookup.setImages(await loadImages(cfg.imagesDir));
      },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EACCES') throw new Error(`${e.message}: binding low ports needs root or CAP_NET_BIND_SERVICE`);
    if (e.code === 'EADDRINUSE') throw new Error(`${e.message}: another server (dnsmasq, tftpd?) holds that port`);
    throw err;
  }
}
