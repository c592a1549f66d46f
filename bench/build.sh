#!/usr/bin/env bash
# Build benchmark: cold build (no stage cache), config-only rebuild, no-op rebuild of one spec, and,
# for the ratio, plain mmdebstrap of the same package set (what a user would otherwise run).
# Writes bench/results/build-<spec>.json and prints a table. Run as root after `npm test` set-up:
#   bash bench/build.sh images/pi-k3s-test.yaml [--skip-plain]
set -euo pipefail
cd "$(dirname "$0")/.."
spec="${1:?usage: bench/build.sh <spec> [--skip-plain]}"
skip_plain="${2:-}"
name=$(basename "$spec" .yaml)
res=bench/results; mkdir -p "$res"
work=$(mktemp -d /tmp/kiln-bench-XXXX)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

echo "bench: cold build of $spec (every stage rebuilt)"
t=$(now); node bin/kiln.js build "$spec" --out "$work/dist" --no-stage-cache --json > "$res/$name-cold.jsonl"; cold=$(secs "$t" "$(now)")
# warm the cache for the next two runs (the cold run above does not store its rootfs)
node bin/kiln.js build "$spec" --out "$work/dist" --json > "$res/$name-warm-fill.jsonl"

echo "bench: config-only rebuild (a config.txt line changes; rootfs from cache)"
cat > "$work/changed.yaml" <<YAML
extends: $(realpath "$spec")
boot:
  configTxt: [arm_64bit=1, enable_uart=1, upstream_kernel=1, disable_overscan=1, dtparam=audio=off]
YAML
cp "$(dirname "$spec")/$name.lock.json" "$work/changed.lock.json"
t=$(now); node bin/kiln.js build "$work/changed.yaml" --out "$work/dist2" --json > "$res/$name-config.jsonl"; config=$(secs "$t" "$(now)")

echo "bench: no-op rebuild"
t=$(now); node bin/kiln.js build "$spec" --out "$work/dist" --json > "$res/$name-noop.jsonl"; noop=$(secs "$t" "$(now)")

m="$work/dist/$name/manifest.json"
img=$(node -e "const m=require('$m');console.log(m.image.size, m.image.zst.size, m.image.bmap.mappedBytes)")
plain=""
if [ "$skip_plain" != "--skip-plain" ]; then
  echo "bench: plain mmdebstrap of the same packages (from the network, as a user would)"
  pkgs=$(node --input-type=module -e "const {loadSpec}=await import('./dist-js/spec/load.js'); console.log((await loadSpec('$spec')).spec.packages.join(','))")
  t=$(now)
  SOURCE_DATE_EPOCH=1764115200 mmdebstrap --arch=arm64 --variant=apt --aptopt='APT::Install-Recommends "false"' \
    --include="$pkgs" trixie "$work/plain.tar" "deb http://deb.debian.org/debian trixie main non-free-firmware" 2> "$res/$name-plain.log"
  plain=$(secs "$t" "$(now)")
fi
node bench/timeline.mjs "$res/$name-cold.jsonl" > "$res/$name-cold-timeline.txt"
cat > "$res/build-$name.json" <<JSON
{ "spec": "$spec", "date": "$(date -u +%FT%TZ)", "coldSeconds": $cold, "configOnlySeconds": $config, "noopSeconds": $noop,
  "plainMmdebstrapSeconds": ${plain:-null}, "imageBytes_zstBytes_mappedBytes": "$img" }
JSON
cat "$res/build-$name.json"
echo; echo "where the cold build's time went:"; head -40 "$res/$name-cold-timeline.txt"
