import { errorText } from '../../util/errors.js';
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { diffSources } from '../../diff/diff.js';
import { renderHtml } from '../../diff/report-html.js';
import { verifySource } from '../../verify/verify.js';
import { DiffBusy, DiffReports } from '../diff-reports.js';
import { imageSource, sbomPath } from '../image-source.js';
import type { ImageInfo } from '../images.js';
import { VerifyJobs } from '../verify-jobs.js';
import type { ImageDetail, ImagesResponse, VerifyStatus } from './api-types.js';
import { HttpError, type OperatorAuth } from './auth.js';
import type { HttpDeps } from './deps.js';
import { imageSummary } from './image-summary.js';
import { parse } from './input.js';

// The builds kiln serves, as the dashboard shows them: summaries, a build's manifest and SBOM,
// `kiln verify` of one build and `kiln diff` of two. The image files themselves are images.ts.

const diffQuery = z.strictObject({ a: z.string().min(1).max(200), b: z.string().min(1).max(200) });

/**
 * The diff report is shown in a sandboxed iframe of the dashboard. It is self-contained (one
 * inline <style>, no script, no image, no font: src/diff/report-html.ts), so it is allowed inline
 * styles and nothing else: text from the images (file names, diffs) that slipped past its escaping
 * still could not run or load anything. Only kiln's own pages may frame it.
 */
export const DIFF_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'";

async function readSbom(img: ImageInfo): Promise<unknown | null> {
  const text = await readFile(sbomPath(img), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(500, `${img.name}: its SBOM (${img.manifest.name}.spdx.json) is not JSON`);
  }
}

export function registerImageApiRoutes(app: FastifyInstance, deps: HttpDeps, auth: OperatorAuth): void {
  const { lookup } = deps;
  const verifyJobs = new VerifyJobs((img) => verifySource(imageSource(img), { files: true }), app.log);
  const diffs = new DiffReports(async (a, b) => renderHtml(await diffSources(imageSource(a), imageSource(b))));
  const image = (name: string): ImageInfo => {
    const img = lookup.image(name);
    if (!img) throw new HttpError(404, `no image named ${name}`);
    return img;
  };

  app.get('/api/images', (req): ImagesResponse => {
    auth.operator(req);
    return { images: lookup.allImages().map((i) => imageSummary(i, verifyJobs.status(i), lookup.defaultImage()?.name === i.name)) };
  });

  // Registered before /api/images/:name, which it would otherwise be (an image named `diff` is
  // listed, but its detail is then only in GET /api/images).
  app.get('/api/images/diff', async (req, reply) => {
    auth.operator(req);
    const q = parse(diffQuery, req.query, 'query');
    const [a, b] = [image(q.a), image(q.b)];
    let html: string;
    try {
      html = await diffs.html(a, b);
    } catch (err) {
      if (err instanceof DiffBusy) throw new HttpError(503, err.message);
      if (err instanceof HttpError) throw err;
      // a damaged image (kiln diff's own refusals), reported like the CLI reports it
      throw new HttpError(422, `kiln diff ${a.name} ${b.name}: ${errorText(err)}`);
    }
    return reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', DIFF_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-store')
      .send(html);
  });

  app.get<{ Params: { name: string } }>('/api/images/:name', async (req): Promise<ImageDetail> => {
    auth.operator(req);
    const img = image(req.params.name);
    return { image: imageSummary(img, verifyJobs.status(img), lookup.defaultImage()?.name === img.name), manifest: img.manifest, sbom: await readSbom(img) };
  });

  app.get<{ Params: { name: string } }>('/api/images/:name/verify', (req): VerifyStatus => {
    auth.operator(req);
    return verifyJobs.status(image(req.params.name));
  });

  app.post<{ Params: { name: string } }>('/api/images/:name/verify', (req, reply) => {
    auth.operator(req);
    const img = image(req.params.name);
    const status = verifyJobs.start(img);
    return reply.code(status.state === 'running' ? 202 : 200).send(status);
  });
}
