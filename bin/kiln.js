#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist-js/ (npm run build).
import { main } from '../dist-js/cli/index.js';

main(process.argv).catch((err) => {
  process.stderr.write(`kiln: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
