#!/usr/bin/env bash
# `npm test`: set everything up, then run the unit tests and the integration tests (real tools, real
# sockets, a real arm64 build; its slow stages are cached in ~/.cache/kiln between runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh
npx vitest run --project unit
npx vitest run --project integration
