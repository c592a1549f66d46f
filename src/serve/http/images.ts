import type { SendOptions } from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { HttpError } from './auth.js';
import type { HttpDeps } from './deps.js';

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

export function registerImageRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get<{ Params: { name: string; file: string } }>('/images/:name/:file', (req, reply) => {
    const img = deps.lookup.image(req.params.name);
    if (!img) throw new HttpError(404, `no image named ${req.params.name}`);
    const f = req.params.file;
    const allowed = new Set([img.files.img, img.files.zst, img.files.bmap, 'manifest.json']);
    if (!allowed.has(f)) throw new HttpError(404, `${f} is not a served file of image ${img.name}`);
    return reply.sendFile(f, img.dir, IMAGE_SEND);
  });

  app.get<{ Params: { name: string; file: string } }>('/images/:name/installer/:file', (req, reply) => {
    const img = deps.lookup.image(req.params.name);
    if (!img?.installerDir) throw new HttpError(404, `image ${req.params.name} has no installer`);
    if (!['vmlinuz', 'initrd.img'].includes(req.params.file)) throw new HttpError(404, 'no such installer file');
    return reply.sendFile(req.params.file, img.installerDir, IMAGE_SEND);
  });
}
