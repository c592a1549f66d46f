// Runs bench/agents-load.ts (see there): it drives kiln through the TypeScript test helpers
// (namespaces, simulated Pis, a real PostgreSQL), and no TypeScript runner is installed, so tsc
// compiles it with what it imports into a scratch dir under node_modules/.cache (where node still
// finds node_modules) and node runs that. From the repo, as root:
//   node bench/agents-load.mjs [--nodes 500] [--agents 5] [--deadline 300] [--dhcp-retry-ms 1000] [--dhcp-tries 10]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '..');
mkdirSync(join(repo, 'node_modules/.cache'), { recursive: true });
const out = mkdtempSync(join(repo, 'node_modules/.cache/kiln-bench-agents-'));
const config = join(out, 'tsconfig.json');
writeFileSync(
  config,
  JSON.stringify({
    extends: join(repo, 'tsconfig.json'),
    compilerOptions: { rootDir: repo, outDir: join(out, 'js'), sourceMap: false, types: ['node'], typeRoots: [join(repo, 'node_modules/@types')] },
    files: [join(repo, 'bench/agents-load.ts')],
    include: [],
  }),
);
let status = 2;
try {
  const tsc = spawnSync(join(repo, 'node_modules/.bin/tsc'), ['-p', config], { stdio: 'inherit' });
  if (tsc.status === 0) {
    // the helpers take the repo as the working directory (compiled kiln, cloud-init templates)
    status = spawnSync(process.execPath, [join(out, 'js/bench/agents-load.js'), ...process.argv.slice(2)], { stdio: 'inherit', cwd: repo }).status ?? 2;
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
process.exit(status);
