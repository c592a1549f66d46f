#!/usr/bin/env bash
# `npm test`: set everything up, then run the unit tests and the integration tests (real tools, real
# sockets, a real arm64 build; its slow stages are cached in ~/.cache/kiln between runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh
# The tests are TypeScript too: type-check them (vitest itself only strips types).
npx tsc -p tsconfig.test.json
results=$(mktemp -d)
status=0
npx vitest run --project unit --reporter=default --reporter=json --outputFile="$results/unit.json" || status=$?
if [ "$status" -eq 0 ]; then
  npx vitest run --project integration --reporter=default --reporter=json --outputFile="$results/integration.json" || status=$?
fi
# One plain closing line for CI, whatever the runner prints above it.
node -e '
  const fs = require("fs"); let p = 0, f = 0, s = 0;
  for (const n of ["unit", "integration"]) {
    try { const r = JSON.parse(fs.readFileSync(process.argv[1] + "/" + n + ".json", "utf8"));
      p += r.numPassedTests; f += r.numFailedTests; s += r.numPendingTests + (r.numTodoTests || 0); } catch {}
  }
  console.log(`${p} passed, ${f} failed, ${s} skipped`);' "$results"
rm -rf "$results"
exit "$status"
