import { mkdir } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { log } from '../util/log.js';
import { loadTemplates } from './cloudinit.js';
import { advertisedAddress, type ServeConfig } from './config.js';
import { LeasePool } from './dhcp/pool.js';
import { DhcpServer } from './dhcp/server.js';
import { buildHttp } from './http/app.js';
import type { HttpTimeouts } from './http/timeouts.js';
import { loadImages, type ImageInfo } from './images.js';
import { ServeLookup } from './lookup.js';
import { ServeMetrics } from './metrics.js';
import { showRetention } from './nodes/activity.js';
import { NodeRegistry } from './nodes/registry.js';
import { openStore, storeLabel } from './nodes/store/open.js';
import { registerAgent, type AgentImage } from './nodes/store/agents.js';
import { isSqliteStore } from './nodes/store/sqlite.js';
import { StoreHealth } from './store-health.js';
import { syncNodesFile } from './nodes/yaml.js';
import { RateLog } from './ratelog.js';
import { canBindLowPorts, lowPortError } from './privileges.js';
import { apiToken, k3sToken } from './secrets.js';
import { tftpRegistryHooks } from './tftp/apply.js';
import { KilnTftpServer } from './tftp/server.js';
import { errorText, KilnError } from '../util/errors.js';

// Composes the registry, images, HTTP, TFTP and DHCP into the running `kiln serve`.

export interface RunningService {
  httpUrl: string;
  registry: NodeRegistry;
  /** Re-reads the images dir and nodes.yaml (SIGHUP). */
  reload(): Promise<void>;
  close(): Promise<void>;
}

export function httpTimeouts(cfg: ServeConfig): HttpTimeouts {
  return {
    requestMs: cfg.httpRequestTimeoutSeconds * 1000,
    headersMs: Math.min(cfg.httpHeadersTimeoutSeconds, cfg.httpRequestTimeoutSeconds) * 1000,
    keepAliveMs: cfg.httpKeepAliveTimeoutSeconds * 1000,
    idleMs: cfg.httpIdleTimeoutSeconds * 1000,
  };
}

/** How often old activity events are pruned (and once at start-up). */
const PRUNE_EVERY_MS = 3_600_000;

/** Runs `fn` every `ms`, never two at once (a slow run makes the next tick skip); a failure is logged. */
function every(ms: number, what: string, fn: () => Promise<unknown>): NodeJS.Timeout {
  let running = false;
  return setInterval(() => {
    if (running) return;
    running = true;
    fn()
      .catch((err: unknown) => log.error({ err: errorText(err), what }, 'periodic task failed'))
      .finally(() => {
        running = false;
      });
  }, ms).unref();
}

export interface StartOptions {
  /** Metrics made by the caller (the CLI counts process-level errors in them before start-up). */
  metrics?: ServeMetrics;
  /** Aborted by SIGTERM/SIGINT during start-up: stop at the next step and close what was opened. */
  signal?: AbortSignal;
}

export async function startService(cfg: ServeConfig, opts: StartOptions = {}): Promise<RunningService> {
  for (const [what, port, on] of [
    ['DHCP', cfg.dhcpPort, cfg.dhcp],
    ['TFTP', cfg.tftpPort, cfg.tftp],
    ['HTTP', cfg.httpPort, true],
  ] as const) {
    if (on && port < 1024 && !canBindLowPorts()) throw lowPortError(what, port);
  }
  const serverIp = advertisedAddress(cfg);
  if ((cfg.dhcp || cfg.tftp) && !serverIp) {
    throw new KilnError('cannot tell nodes where kiln is: give --advertise <ip> or --interface <name>');
  }
  await mkdir(cfg.stateDir, { recursive: true, mode: 0o700 });
  const store = await openStore(cfg);
  const metrics = opts.metrics ?? new ServeMetrics();
  const dropLog = new RateLog();
  const registry = await NodeRegistry.open(store, {
    agent: cfg.agent,
    onActivityDropped: (rows, why) => {
      metrics.activityDropped.inc(rows);
      dropLog.info(why, { rows, why }, 'activity events dropped: the registry store did not take them');
    },
    activityWindowMs: cfg.activityWindowSeconds * 1000,
    discovery: { max: cfg.discoveryMax, burst: Math.max(1, Math.ceil(cfg.discoveryPerMinute)), perMinute: cfg.discoveryPerMinute },
  });
  const closers: (() => Promise<void>)[] = [() => registry.close()];
  const closeAll = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch((err: Error) => log.warn({ err: err.message }, 'close failed'));
  };
  const checkpoint = (): void => opts.signal?.throwIfAborted();
  try {
    log.info({ store: storeLabel(cfg), schema: await store.schemaVersion(), ...(isSqliteStore(store) ? await store.settings() : {}) }, 'registry opened');
    checkpoint();
    if (cfg.nodesFile) {
      const { applied, removed } = await syncNodesFile(registry, cfg.nodesFile);
      log.info({ file: cfg.nodesFile, nodes: applied.length, removed }, 'applied nodes file');
    }
    checkpoint();
    const images = await loadImages(cfg.imagesDir);
    checkpoint();
    if (images.size === 0) log.warn({ imagesDir: cfg.imagesDir }, 'no images found: nodes will not be answered');
    const lookup = new ServeLookup(registry, images, cfg.defaultImage);
    // Agents sharing a store must serve the same bytes under an image name: checked before any port opens.
    const network = [cfg.interface, serverIp].filter((x) => x !== undefined).join(' ') || 'loopback';
    const imageList = (m: Map<string, ImageInfo>): AgentImage[] => [...m.values()].map((i) => ({ name: i.name, sha256: i.sha256 }));
    await registerAgent(store, { name: cfg.agent, network, images: imageList(images) }, new Date());
    const storeHealth = new StoreHealth(store, cfg.agent, undefined, (up) => metrics.storeUp.set({ store: store.kind }, up ? 1 : 0));
    storeHealth.start();
    closers.push(async () => storeHealth.stop());
    metrics.bindNodeStates(() => registry.countByState());
    const prune = async (): Promise<void> => {
      const n = await registry.pruneEvents(cfg.eventRetention);
      if (n > 0) {
        metrics.eventsPruned.inc(n);
        log.info({ pruned: n, retention: showRetention(cfg.eventRetention) }, 'pruned old activity events');
      }
    };
    await prune();
    const timers = [
      // Aggregates are written when their window ends; a quarter window late at most (1-10 s).
      every(Math.min(10_000, Math.max(1000, cfg.activityWindowSeconds * 250)), 'flush activity events', () => registry.flushActivity()),
      every(PRUNE_EVERY_MS, 'prune events', prune),
    ];
    closers.push(async () => {
      for (const t of timers) clearInterval(t);
    });
    const host = serverIp ?? '127.0.0.1';
    const ctx = { httpBase: `http://${host}:${cfg.httpPort}` };

    const app: FastifyInstance = await buildHttp(
      {
        registry,
        lookup,
        metrics,
        storeHealth,
        imagesDir: cfg.imagesDir,
        apiToken: await apiToken(cfg.stateDir),
        k3sToken: await k3sToken(cfg.stateDir, cfg.k3sToken),
        templates: await loadTemplates(cfg.templatesDir),
        ctx,
        k3sServerUrl: cfg.k3sServerUrl,
      },
      { timeouts: httpTimeouts(cfg) },
    );
    closers.push(() => app.close());
    checkpoint();
    await app.listen({ host: cfg.listen, port: cfg.httpPort });

    if (cfg.tftp) {
      const tftp = new KilnTftpServer({
        host: cfg.listen,
        port: cfg.tftpPort,
        lookup,
        ctx,
        metrics,
        maxBlockSize: cfg.tftpMaxBlockSize,
        ...tftpRegistryHooks(registry, metrics),
      });
      checkpoint();
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
      checkpoint();
      await dhcp.start();
      closers.push(() => dhcp.stop());
    }
    checkpoint();
    log.info({ http: ctx.httpBase, mode: cfg.dhcp ? cfg.mode : 'off', tftp: cfg.tftp, images: [...images.keys()] }, 'kiln serve ready');
    return {
      httpUrl: ctx.httpBase,
      registry,
      async reload() {
        if (cfg.nodesFile) {
          const { applied, removed } = await syncNodesFile(registry, cfg.nodesFile);
          log.info({ file: cfg.nodesFile, nodes: applied.length, removed }, 'applied nodes file');
        }
        const next = await loadImages(cfg.imagesDir);
        // A reload that would make this agent disagree with another about an image is refused whole.
        await registerAgent(store, { name: cfg.agent, network, images: imageList(next) }, new Date());
        lookup.setImages(next);
      },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    if (opts.signal?.aborted) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EACCES') throw new KilnError(`${e.message}: binding low ports needs root or CAP_NET_BIND_SERVICE`);
    if (e.code === 'EADDRINUSE') throw new KilnError(`${e.message}: another server (dnsmasq, tftpd?) holds that port`);
    throw err;
  }
}
