import { Counter, Gauge, Histogram, Registry } from 'prom-client';

// One registry per service instance (not prom-client's global one) so tests can run several.

export class ServeMetrics {
  readonly registry = new Registry();
  readonly boots = new Counter({
    name: 'kiln_boots_total',
    help: 'Netboot offers made to nodes (DHCP answers that start a boot)',
    labelNames: ['mode'] as const,
    registers: [this.registry],
  });
  readonly dhcpDrops = new Counter({
    name: 'kiln_dhcp_drops_total',
    help: 'DHCP packets not answered, by reason (malformed, unknown client, plan local, store-unreachable, ...)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly tftpRequests = new Counter({
    name: 'kiln_tftp_requests_total',
    help: 'TFTP requests by outcome (ok, aborted, notfound, denied, malformed, bad-opcode, write-denied, busy, timeout, store-unreachable, error)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly tftpDropped = new Counter({
    name: 'kiln_tftp_datagrams_dropped_total',
    help: 'Datagrams on TFTP transfer sockets that did not count for the transfer (malformed, foreign-tid, unexpected)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly tftpBytes = new Counter({
    name: 'kiln_tftp_bytes_total',
    help: 'Bytes handed to TFTP transfers',
    registers: [this.registry],
  });
  readonly httpBytes = new Counter({
    name: 'kiln_http_bytes_total',
    help: 'Response body bytes sent over HTTP, by route kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly httpRefused = new Counter({
    name: 'kiln_http_refused_total',
    help: 'HTTP requests refused, by status code',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly securityAlerts = new Counter({
    name: 'kiln_security_alerts_total',
    help: 'Requests only an attacker or a fault explains (an install token used twice, a self-heal without proof, ...), by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly transferSeconds = new Histogram({
    name: 'kiln_transfer_duration_seconds',
    help: 'Duration of completed file transfers',
    labelNames: ['protocol'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900],
    registers: [this.registry],
  });
  readonly discoveryRefused = new Counter({
    name: 'kiln_discovery_refused_total',
    help: 'Unknown Pis not recorded as discovered: limit (too many placeholders) or rate (created too fast)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly eventsFolded = new Counter({
    name: 'kiln_events_folded_total',
    help: 'Activity events (dhcp-seen, dhcp-offered, file-fetched) folded into an aggregate row instead of written',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly eventsPruned = new Counter({
    name: 'kiln_events_pruned_total',
    help: 'Old activity events deleted by --event-retention (state changes are never pruned)',
    registers: [this.registry],
  });
  readonly signIns = new Counter({
    name: 'kiln_dashboard_sign_ins_total',
    help: 'Dashboard sign-ins (POST /api/session) by result: ok, refused (wrong API token), limited (too many failures from the address)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly streams = new Gauge({
    name: 'kiln_dashboard_streams',
    help: 'Open live event streams (GET /api/stream)',
    registers: [this.registry],
  });
  readonly streamsRefused = new Counter({
    name: 'kiln_dashboard_streams_refused_total',
    help: 'Live event streams refused or cut by kiln: busy (too many open), slow (the client did not read), expired (its session ended)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly internalErrors = new Counter({
    name: 'kiln_internal_errors_total',
    help: 'Errors that reached the process-level last net (uncaughtException, unhandledRejection)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly storeUp = new Gauge({
    name: 'kiln_store_up',
    help: 'Whether this agent reaches its registry store (1) or not (0): a partition from PostgreSQL shows here within one heartbeat',
    labelNames: ['store'] as const,
    registers: [this.registry],
  });
  readonly activityDropped = new Counter({
    name: 'kiln_activity_events_dropped_total',
    help: 'Activity events (dhcp-seen, file-fetched, ...) dropped because the store stayed unreachable and the bounded write buffer was full',
    registers: [this.registry],
  });
  private countStates: () => Promise<Record<string, number>> = async () => ({});
  readonly nodeStates = (() => {
    const counts = (): Promise<Record<string, number>> => this.countStates();
    return new Gauge({
      name: 'kiln_nodes',
      help: 'Registered nodes by state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      // Read from the registry at scrape time rather than tracked incrementally.
      // prom-client awaits an async collect before it renders the scrape.
      async collect() {
        // The store unreachable: the scrape still answers (kiln_store_up says why these are stale).
        const byState = await counts().catch(() => undefined);
        if (!byState) return;
        this.reset();
        for (const [state, n] of Object.entries(byState)) this.set({ state }, n);
      },
    });
  })();

  bindNodeStates(count: () => Promise<Record<string, number>>): void {
    this.countStates = count;
  }
}
