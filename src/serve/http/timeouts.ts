import type { ServerOptions } from 'node:http';

// How long the HTTP server waits for a client. fastify leaves Node's request timeout off (0), so
// a client that trickles a request body one byte at a time held its connection forever.

export interface HttpTimeouts {
  /**
   * Time to receive the whole *request* (headers and body): Node's server.requestTimeout. It stops
   * once the request is in, so it never cuts a long response such as a 2 GB image download.
   */
  requestMs: number;
  /** Time to receive the request headers (Node's headersTimeout); at most requestMs. */
  headersMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveMs: number;
  /**
   * A connection with no traffic either way for this long is closed (fastify's connectionTimeout,
   * the socket timeout): a download stalls only that long when the client stops reading.
   */
  idleMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = { requestMs: 30_000, headersMs: 10_000, keepAliveMs: 5_000, idleMs: 120_000 };

/** The fastify (and Node http.Server) options that apply them. */
export function timeoutOptions(t: HttpTimeouts): {
  requestTimeout: number;
  connectionTimeout: number;
  keepAliveTimeout: number;
  http: ServerOptions;
} {
  return {
    requestTimeout: t.requestMs,
    connectionTimeout: t.idleMs,
    keepAliveTimeout: t.keepAliveMs,
    http: {
      headersTimeout: t.headersMs,
      // Node checks the request and headers timeouts only every connectionsCheckingInterval (30 s by
      // default), which would let a slow request live up to 30 s past its timeout.
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(Math.min(t.requestMs, t.headersMs) / 4))),
    },
  };
}
