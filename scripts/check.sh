#!/usr/bin/env bash
# `npm run check`: the fast gate before any test. Types (source and tests), lint and format (Biome,
# its recommended rules), and shellcheck of every shell script kiln ships or runs. Under a minute
# here; `npm test` runs it first. Needs node_modules (npm ci) and shellcheck (scripts/setup-host.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
step() {
  local name=$1
  shift
  local t0=$SECONDS
  if "$@"; then
    echo "check: $name ok ($((SECONDS - t0)) s)"
  else
    echo "check: $name FAILED" >&2
    status=1
  fi
}
step types npx tsc -p tsconfig.test.json
step "types (dashboard)" npx tsc -p web/tsconfig.json
step "lint and format" npx biome ci --error-on-warnings .
# every shell script in the tree (tracked or new, not ignored): by extension or by a sh/bash shebang
scripts=()
while IFS= read -r -d '' f; do
  [ -f "$f" ] || continue
  if [[ $f == *.sh ]] || head -n1 "$f" | grep -qE '^#!(/usr/bin/env |/bin/)(ba)?sh'; then scripts+=("$f"); fi
done < <(git ls-files -z --cached --others --exclude-standard)
step "shellcheck (${#scripts[@]} scripts)" shellcheck -x "${scripts[@]}"
exit "$status"
