#!/usr/bin/env bash
# `npm start`: set everything up, then do kiln's main job on its embedded defaults: build the default
# image (images/pi-k3s.yaml) into dist/, then serve it for netbooting Pis (DHCP proxy + TFTP + HTTP).
# If the k3s release cannot be downloaded on this machine, the build stops at the fetch stage and
# names the artifact, its URL and `kiln cache add`. KILN_SPEC picks another spec; KILN_NO_SERVE=1
# stops after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh
spec="${KILN_SPEC:-images/pi-k3s.yaml}"
if ! node bin/kiln.js build "$spec"; then
  echo
  echo "start: the build of $spec did not finish (see the message above)." >&2
  echo "start: to try the whole pipeline offline: KILN_SPEC=images/pi-k3s-test.yaml npm start" >&2
  exit 1
fi
[ "${KILN_NO_SERVE:-}" = 1 ] && exit 0
echo "start: serving dist/ (Ctrl-C to stop; register Pis with: npx kiln node add --help)"
exec node bin/kiln.js serve --images-dir dist
