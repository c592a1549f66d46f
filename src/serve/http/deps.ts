import type { Templates } from '../cloudinit.js';
import type { ServeLookup } from '../lookup.js';
import type { ServeMetrics } from '../metrics.js';
import type { NodeRegistry } from '../nodes/registry.js';
import type { StoreHealth } from '../store-health.js';
import type { BroadcastOptions } from './broadcaster.js';
import type { SessionStore } from './session.js';
import type { SignInLimitOptions } from './sign-in-limit.js';

/** Everything the HTTP routes need, passed in explicitly (no globals) so tests build their own. */
export interface HttpDeps {
  registry: NodeRegistry;
  lookup: ServeLookup;
  metrics: ServeMetrics;
  /** Whether the registry store answers (/health); absent in tests that build the app alone. */
  storeHealth?: StoreHealth;
  imagesDir: string;
  apiToken: string;
  k3sToken: string;
  templates: Templates;
  /** Base URL of kiln's HTTP server as nodes reach it (enrolment and seed answers name it). */
  ctx: { httpBase: string };
  /** Operator's k3s server URL; otherwise derived from the cluster-init server's address. */
  k3sServerUrl?: string;
  /** The built dashboard (dist-web/); tests point it elsewhere. */
  uiDir?: string;
  /** The dashboard's limits; the defaults suit `kiln serve`, tests shorten them. */
  dashboard?: DashboardOptions;
}

export interface DashboardOptions {
  /** The sessions (a test passes one with its own clock or lifetime). */
  sessions?: SessionStore;
  signInLimit?: SignInLimitOptions;
  stream?: Partial<BroadcastOptions>;
}
