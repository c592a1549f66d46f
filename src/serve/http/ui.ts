import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { log } from '../../util/log.js';

// The dashboard's files (built from web/ into dist-web/ by scripts/build-web.mjs), served from
// memory under `/`. They hold no data: every node and image reaches the page through /api with a
// session, so the files themselves are as public as /health.

/** dist-web/ beside src/ or dist-js/: both sit two folders below the package root. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../../dist-web/', import.meta.url));

const FILES = [
  { url: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { url: '/assets/app.js', file: 'assets/app.js', type: 'text/javascript; charset=utf-8' },
  { url: '/assets/app.css', file: 'assets/app.css', type: 'text/css; charset=utf-8' },
] as const;

/**
 * Only the page's own files, no inline code, no framing, no other origin; the `kiln diff` report
 * frame comes from /api with its own, stricter policy. `style-src` has no 'unsafe-inline': the
 * progress bars set widths through the DOM, which CSP does not restrict.
 */
export const UI_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

async function loadAssets(dir: string): Promise<Map<string, Asset> | undefined> {
  const out = new Map<string, Asset>();
  for (const f of FILES) {
    const body = await readFile(join(dir, f.file)).catch(() => undefined);
    if (!body) return undefined;
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
    out.set(f.url, { type: f.type, body, gzip: gzipSync(body, { level: 9 }), etag });
  }
  return out;
}

function securityHeaders(reply: FastifyReply): void {
  reply
    .header('content-security-policy', UI_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin');
}

export async function registerUiRoutes(app: FastifyInstance, dir: string = DEFAULT_UI_DIR): Promise<void> {
  const assets = await loadAssets(dir);
  if (!assets) log.warn({ dir }, 'dashboard not built (npm run build): / answers 404 until it is');
  for (const f of FILES) {
    app.get(f.url, (req: FastifyRequest, reply: FastifyReply) => {
      securityHeaders(reply);
      const a = assets?.get(f.url);
      // 404, not 5xx: a dashboard that was never built is a part not installed, not a server fault.
      if (!a)
        return reply
          .code(404)
          .type('text/plain; charset=utf-8')
          .send('kiln: the dashboard is not built; run `npm run build` (the API under /api works without it)\n');
      // Revalidated every time (no-cache), so a new kiln version never meets a stale bundle.
      reply.header('cache-control', 'no-cache').header('etag', a.etag).header('vary', 'accept-encoding').type(a.type);
      if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
      if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) return reply.header('content-encoding', 'gzip').send(a.gzip);
      return reply.send(a.body);
    });
  }
}
