#!/usr/bin/env bash
# Shared set-up for `npm start` and `npm test`: host packages, npm dependencies, the TypeScript build
# and the dashboard bundle.
# Each step is skipped quickly when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "prepare: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "prepare: compiling TypeScript"
# from scratch, so a moved or deleted module leaves no stale compiled copy behind
rm -rf dist-js
npx tsc -p tsconfig.json
node scripts/build-web.mjs
