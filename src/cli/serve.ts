import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseServeConfig, SERVE_DEFAULTS as D, type ServeConfig } from '../serve/config.js';
import { defaultImagesDir, defaultStateDir, defaultTemplatesDir } from '../serve/defaults.js';
import { installProcessGuards } from '../serve/guards.js';
import { ServeMetrics } from '../serve/metrics.js';
import { startService } from '../serve/service.js';
import { supervise } from '../serve/supervisor.js';
import { KilnError } from '../util/errors.js';
import { storeOption } from './store-options.js';

interface ServeFlags {
  stateDir: string;
  store?: string;
  agent?: string;
  imagesDir: string;
  templatesDir: string;
  nodes?: string;
  mode: string;
  interface?: string;
  advertise?: string;
  listen: string;
  httpPort: string;
  tftpPort: string;
  dhcpPort: string;
  dhcp: boolean;
  tftp: boolean;
  discovery?: boolean;
  pool?: string;
  netmask?: string;
  router?: string;
  dns?: string[];
  leaseTime?: string;
  k3sTokenFile?: string;
  k3sServerUrl?: string;
  defaultImage?: string;
  tftpMaxBlksize: string;
  eventRetention: string;
  httpRequestTimeout: string;
  httpIdleTimeout: string;
  exitOnInternalError?: boolean;
}

function num(v: string | undefined): number | undefined {
  return v === undefined ? undefined : Number(v);
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .summary('answer netbooting Pis: DHCP (proxy or full), TFTP boot files, HTTP image + cloud-init')
    .description(
      [
        'Serve the builds in the images dir to Raspberry Pis that netboot (BOOT_ORDER 0xf21: SD card first, then network).',
        'DHCP proxy mode (default) coexists with your router: it answers only registered Pis whose plan is `install`, with no address, just the PXE options the Pi firmware needs. Full mode leases addresses from --pool on an isolated provisioning network (needed for U-Boot clients).',
        "TFTP serves <serial>/... and <mac-with-dashes>/... from the node's image, with per-node config.txt and cmdline.txt. HTTP serves the image (Range requests), the per-node NoCloud seed, the JSON API (/api/...), /metrics and /health.",
        'State (SQLite registry, API token, k3s token; secrets mode 0600) lives in --state-dir. Ports 67 (DHCP) and 69 (TFTP) need root or CAP_NET_BIND_SERVICE.',
        'SIGHUP re-reads the images dir and --nodes (nodes dropped from the file are removed); one sent during start-up is applied once start-up is done. SIGTERM/SIGINT stop, also during start-up. An error that escapes every handler is logged and counted (kiln_internal_errors_total) and kiln keeps serving, unless --exit-on-internal-error.',
        'Activity any host can cause (dhcp-seen, dhcp-offered, file-fetched) is aggregated: one event per node and window with a count. Old activity is pruned by --event-retention; state changes are kept forever.',
      ].join('\n\n'),
    )
    .option('--state-dir <dir>', 'registry, tokens and leases ($KILN_STATE)', defaultStateDir())
    .option(...storeOption)
    .option('--agent <name>', "this serving agent's name, recorded on the events it writes and in the store's agent list (default: the host name)")
    .option('--images-dir <dir>', 'builds to serve: <dir>/<name>/manifest.json ($KILN_IMAGES)', defaultImagesDir())
    .option('--templates-dir <dir>', 'cloud-init templates', defaultTemplatesDir())
    .option('--nodes <file>', 'nodes.yaml kept in Git; wins over the registry for what it declares')
    .option('--mode <mode>', 'DHCP mode: proxy (beside a router) or full (isolated network)', D.mode)
    .option('--interface <name>', 'provisioning interface; its IPv4 address is advertised to nodes')
    .option('--advertise <ip>', 'address nodes reach kiln at (DHCP option 54, TFTP, HTTP URLs)')
    .option('--listen <ip>', 'address TFTP and HTTP bind to', D.listen)
    .option('--http-port <port>', 'HTTP port', String(D.httpPort))
    .option('--tftp-port <port>', 'TFTP port', String(D.tftpPort))
    .option('--dhcp-port <port>', 'DHCP server port', String(D.dhcpPort))
    .option('--no-dhcp', 'do not run DHCP (another DHCP server points Pis at kiln)')
    .option('--no-tftp', 'do not run TFTP')
    .option(
      '--discovery',
      `record unknown Raspberry Pis as \`discovered\` (they are still not answered); at most ${D.discoveryMax} at a time, ${D.discoveryPerMinute} new a minute`,
    )
    .option('--pool <start-end>', 'full mode: address range to lease, e.g. 10.42.0.100-10.42.0.150')
    .option('--netmask <mask>', 'full mode: subnet mask', D.mask)
    .option('--router <ip>', 'full mode: default gateway to hand out')
    .option('--dns <ip>', 'full mode: DNS server to hand out (repeatable)', collect)
    .option('--lease-time <seconds>', 'full mode: lease length', String(D.leaseSeconds))
    .option('--k3s-token-file <file>', 'cluster join token (default: generated once into the state dir)')
    .option('--k3s-server-url <url>', 'server URL joining nodes use (default: https://<cluster-init server>:6443)')
    .option('--default-image <name>', 'image for nodes without one (default: the only image, if one)')
    .option('--tftp-max-blksize <n>', 'largest TFTP blksize granted', String(D.tftpMaxBlockSize))
    .option(
      '--http-request-timeout <seconds>',
      `time a client has to send a whole HTTP request (headers within ${D.httpHeadersTimeoutSeconds} s of it); the answer is not limited, so a long image download is not cut`,
      String(D.httpRequestTimeoutSeconds),
    )
    .option(
      '--http-idle-timeout <seconds>',
      'close an HTTP connection with no traffic either way for this long (a client that stopped reading)',
      String(D.httpIdleTimeoutSeconds),
    )
    .option(
      '--exit-on-internal-error',
      'exit with status 70 when an error escapes every handler (for a supervisor such as systemd to restart); default: log it, count it in kiln_internal_errors_total and keep serving',
    )
    .option(
      '--event-retention <spec>',
      'how long activity events (dhcp-seen, dhcp-offered, file-fetched, seed-fetched, discovered) are kept: a duration (30d, 12h, 90m, 2w), a count of the newest to keep (100000events), or forever. State changes (registered, install-*, parked, ...) are always kept',
      D.eventRetention,
    )
    .action(async (f: ServeFlags) => {
      // The process-level last net (guards.ts), then the signal handlers, which supervise()
      // installs before start-up begins (supervisor.ts).
      const metrics = new ServeMetrics();
      const unguard = installProcessGuards({
        proc: process,
        count: (kind) => metrics.internalErrors.inc({ kind }),
        exitOnInternalError: f.exitOnInternalError === true,
      });
      try {
        await supervise({
          proc: process,
          start: async (signal) => {
            const cfg = await serveConfig(f);
            const svc = await startService(cfg, { metrics, signal });
            process.stdout.write(`kiln serve: ${svc.httpUrl} (state ${cfg.stateDir})\n`);
            return svc;
          },
        });
      } finally {
        unguard();
      }
    });
}

async function serveConfig(f: ServeFlags): Promise<ServeConfig> {
  const [start, end] = f.pool ? f.pool.split('-') : [];
  if (f.pool && (!start || !end)) throw new KilnError('--pool: expected START-END, e.g. 10.42.0.100-10.42.0.150');
  return parseServeConfig({
    stateDir: f.stateDir,
    store: f.store,
    agent: f.agent,
    imagesDir: f.imagesDir,
    templatesDir: f.templatesDir,
    nodesFile: f.nodes,
    mode: f.mode,
    interface: f.interface,
    advertise: f.advertise,
    listen: f.listen,
    httpPort: num(f.httpPort),
    tftpPort: num(f.tftpPort),
    dhcpPort: num(f.dhcpPort),
    dhcp: f.dhcp,
    tftp: f.tftp,
    discovery: f.discovery ?? false,
    pool: f.pool ? { start, end, mask: f.netmask, router: f.router, dns: f.dns ?? [], leaseSeconds: num(f.leaseTime) } : undefined,
    k3sToken: f.k3sTokenFile ? (await readFile(f.k3sTokenFile, 'utf8')).trim() : undefined,
    k3sServerUrl: f.k3sServerUrl,
    defaultImage: f.defaultImage,
    tftpMaxBlockSize: num(f.tftpMaxBlksize),
    eventRetention: f.eventRetention,
    httpRequestTimeoutSeconds: num(f.httpRequestTimeout),
    // the headers' own limit shrinks with a shorter request timeout instead of refusing it
    httpHeadersTimeoutSeconds: Math.min(D.httpHeadersTimeoutSeconds, num(f.httpRequestTimeout) ?? D.httpHeadersTimeoutSeconds),
    httpIdleTimeoutSeconds: num(f.httpIdleTimeout),
  });
}
