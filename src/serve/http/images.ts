import type { SendOptions } from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HttpError } from './auth.js';
import type { HttpDeps } from './deps.js';
import { checkRange } from './range.js';

// The image, its compressed form and block map, by Range. Only files a manifest names are served.

/**
 * @fastify/send reads with this chunk size (it passes unknown options through; its types omit
 * it). The image is hundreds of MB and per-chunk overhead dominates on fast links.
 */
const IMAGE_SEND: SendOptions & { highWaterMark: number } = {
  acceptRanges: true,
  cacheControl: false,
  dotfiles: 'deny',
  highWaterMark: 1 << 20,
};

/**
 * Sends one served file. The Range header is checked strictly first (see range.ts): a malformed
 * or multi-range request gets 416 with the file's size and the reason, never the whole file.
 * A well-formed one is left to @fastify/send, which also applies If-Range (a stale validator gets
 * the whole file, as RFC 9110 §13.1.5 says) and answers 416 to a range beyond the end. Range is
 * defined for GET only (§14.2): a HEAD answers as for the whole file.
 */
async function sendServed(req: FastifyRequest, reply: FastifyReply, file: string, dir: string): Promise<FastifyReply> {
  const range = req.headers.range;
  if (req.method === 'HEAD') delete req.raw.headers.range;
  else if (range !== undefined) {
    const st = await stat(join(dir, file)).catch((err: NodeJS.ErrnoException) => {
      // A file the manifest names but the disk lost is a 404, as @fastify/send says without a Range.
      if (err.code === 'ENOENT') throw new HttpError(404, `${file} is missing from the images dir`);
      throw err;
    });
    const size = st.size;
    const c = checkRange(range, size);
    if (c.kind === 'invalid') {
      return reply
        .code(416)
        .header('content-range', `bytes */${size}`)
        .send({ error: `Range: ${c.why}` });
    }
  }
  return reply.sendFile(file, dir, IMAGE_SEND);
}

export function registerImageRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get<{ Params: { name: string; file: string } }>('/images/:name/:file', async (req, reply) => {
    const img = deps.lookup.image(req.params.name);
    if (!img) throw new HttpError(404, `no image named ${req.params.name}`);
    const f = req.params.file;
    const allowed = new Set([img.files.img, img.files.zst, img.files.bmap, 'manifest.json']);
    if (!allowed.has(f)) throw new HttpError(404, `${f} is not a served file of image ${img.name}`);
    return sendServed(req, reply, f, img.dir);
  });

  app.get<{ Params: { name: string; file: string } }>('/images/:name/installer/:file', async (req, reply) => {
    const img = deps.lookup.image(req.params.name);
    if (!img?.installerDir) throw new HttpError(404, `image ${req.params.name} has no installer`);
    if (!['vmlinuz', 'initrd.img'].includes(req.params.file)) throw new HttpError(404, 'no such installer file');
    return sendServed(req, reply, req.params.file, img.installerDir);
  });
}
