#!/usr/bin/env bash
# `npm start`: set everything up, then do kiln's main job on its embedded defaults: build the default
# image (images/pi-k3s.yaml) into dist/pi-k3s/. If the k3s release cannot be downloaded on this
# machine, the build stops at the fetch stage and names the artifact, its URL and `kiln cache add`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh
spec="${KILN_SPEC:-images/pi-k3s.yaml}"
if ! node bin/kiln.js build "$spec"; then
  echo
  echo "start: the build of $spec did not finish (see the message above)."
  echo "start: if the lock is stale, run: npx kiln lock $spec"
  exit 1
fi
