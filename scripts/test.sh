#!/usr/bin/env bash
# `npm test`: set everything up, then run the unit tests and the integration tests (real tools, real
# sockets, a real arm64 build; its slow stages are cached in ~/.cache/kiln between runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh
# The fast gate first (types, lint, format, shellcheck): a slip there fails in a minute, not in 15.
bash scripts/check.sh
results=$(mktemp -d)
status=0
npx vitest run --project unit --reporter=default --reporter=json --outputFile="$results/unit.json" || status=$?
if [ "$status" -eq 0 ]; then
  npx vitest run --project integration --reporter=default --reporter=json --outputFile="$results/integration.json" || status=$?
fi
node scripts/test-summary.mjs "$results"
rm -rf "$results"
exit "$status"
