import { log } from '../util/log.js';
import { errorText } from '../util/errors.js';
import { touchAgent, HEARTBEAT_MS } from './nodes/store/agents.js';
import type { SqlStore } from './nodes/store/sql.js';

// Whether this agent reaches its registry store, as /health and /metrics report it. The agent's
// heartbeat (which keeps it "live" to the other agents) is the probe: a partition between an agent
// and PostgreSQL shows here within one heartbeat, while DHCP, TFTP and HTTP go on serving what
// does not need the store. A request that finds the store unreachable says so at once (failed()),
// and while it is, the probe runs every second rather than every heartbeat.

export interface StoreStatus {
  kind: SqlStore['kind'];
  reachable: boolean;
  /** When it last answered (ISO), or null before the first answer. */
  lastOk: string | null;
  /** The last failure while unreachable (never a URL's password: store errors are redacted). */
  error: string | null;
}

/** While unreachable, the store is probed this often, so an agent sees it back within seconds. */
export const PROBE_DOWN_MS = 1000;

export class StoreHealth {
  private lastOk: Date | null = null;
  private error: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private everyMs = HEARTBEAT_MS;
  private stopped = true;

  constructor(
    private readonly store: SqlStore,
    private readonly agent: string,
    private readonly now: () => Date = () => new Date(),
    private readonly onChange: (up: boolean) => void = () => undefined,
  ) {}

  status(): StoreStatus {
    return { kind: this.store.kind, reachable: this.error === null && this.lastOk !== null, lastOk: this.lastOk?.toISOString() ?? null, error: this.error };
  }

  /** One heartbeat: refreshes the agent's seen_at, and with it the store's reachability. */
  async beat(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const was = this.status().reachable;
    try {
      await touchAgent(this.store, this.agent, this.now());
      this.lastOk = this.now();
      this.error = null;
    } catch (err) {
      this.error = errorText(err);
    } finally {
      this.running = false;
    }
    this.changed(was);
  }

  /**
   * A request found the store unreachable: shown at once rather than at the next heartbeat (up to
   * HEARTBEAT_MS later), and probed every PROBE_DOWN_MS until it answers.
   */
  failed(err: unknown): void {
    const was = this.status().reachable;
    this.error = errorText(err);
    this.changed(was);
    if (was && !this.stopped) this.schedule();
  }

  private changed(was: boolean): void {
    const up = this.status().reachable;
    if (up === was) return;
    if (up) log.info({ store: this.store.kind }, 'registry store reachable again');
    else log.error({ store: this.store.kind, err: this.error }, 'registry store unreachable: serving what does not need it');
    this.onChange(up);
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        void this.beat().finally(() => {
          if (!this.stopped) this.schedule();
        });
      },
      this.status().reachable ? this.everyMs : Math.min(PROBE_DOWN_MS, this.everyMs),
    );
    this.timer.unref();
  }

  start(everyMs = HEARTBEAT_MS): void {
    this.everyMs = everyMs;
    this.stopped = false;
    this.lastOk = this.now();
    this.onChange(true);
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
