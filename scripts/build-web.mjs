// Bundles the dashboard (web/) into dist-web/: index.html, assets/app.js, assets/app.css. Run by
// scripts/prepare.sh (so by `npm start` and `npm test`) and by `npm run build`. Deterministic: no
// hashes in names, no source maps with absolute paths, so two builds give the same bytes.
import { copyFile, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// An optional argument names another output dir (the browser test bundles into its own).
const out = process.argv[2] ? resolve(process.argv[2]) : join(root, 'dist-web');
const tmp = `${out}.tmp-${process.pid}`;

await rm(tmp, { recursive: true, force: true });
await mkdir(join(tmp, 'assets'), { recursive: true });
await build({
  entryPoints: { app: join(root, 'web/src/main.tsx') },
  outdir: join(tmp, 'assets'),
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
});
await copyFile(join(root, 'web/index.html'), join(tmp, 'index.html'));
await copyFile(join(root, 'web/style.css'), join(tmp, 'assets/app.css'));
// Written whole in a temp dir, then swapped in: a server reading dist-web never sees half a build.
await rm(out, { recursive: true, force: true });
await rename(tmp, out);

const sizes = [];
for (const f of ['assets/app.js', 'assets/app.css', 'index.html']) {
  const buf = await readFile(join(out, f));
  sizes.push(`${f} ${(buf.length / 1024).toFixed(1)} KiB (${(gzipSync(buf, { level: 9 }).length / 1024).toFixed(1)} KiB gzip)`);
}
console.log(`build-web: ${sizes.join(', ')}`);
