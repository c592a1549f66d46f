#!/usr/bin/env bash
# Build benchmark: cold build (no stage cache), config-only rebuild, no-op rebuild of one spec, and,
# for the ratio, plain mmdebstrap of the same package set (what a user would otherwise run).
# Writes bench/results/build-<spec>.json and prints a table. Run as root after `npm test` set-up:
#   bash bench/build.sh images/pi-k3s-test.yaml [--skip-plain]
# --warm measures only the cheap rebuilds against the existing stage cache (no cold build, no plain
# mmdebstrap; the rootfs must be cached already), e.g. with the shared test image's lock:
#   bash bench/build.sh images/pi-k3s-test.yaml --warm --lock ~/.cache/kiln/test-image/pi-k3s-test.lock.json
set -euo pipefail
cd "$(dirname "$0")/.."
spec="${1:?usage: bench/build.sh <spec> [--skip-plain | --warm] [--lock <file>]}"
shift
skip_plain=""; warm=""; lock=""
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-plain) skip_plain=--skip-plain ;;
    --warm) warm=1; skip_plain=--skip-plain ;;
    --lock) lock="$(realpath "$2")"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
name=$(basename "$spec" .yaml)
lock="${lock:-$(realpath "$(dirname "$spec")/$name.lock.json")}"
res=bench/results; mkdir -p "$res"
work=$(mktemp -d /tmp/kiln-bench-XXXX)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }
load() { cut -d' ' -f1 /proc/loadavg; }

cold=null
if [ -z "$warm" ]; then
  echo "bench: cold build of $spec (every stage rebuilt)"
  t=$(now); node bin/kiln.js build "$spec" --lock "$lock" --out "$work/dist" --no-stage-cache --json > "$res/$name-cold.jsonl"; cold=$(secs "$t" "$(now)")
fi
# fill the output dir (and, after a cold run, which stores nothing, the stage cache) for the next runs
node bin/kiln.js build "$spec" --lock "$lock" --out "$work/dist" --json > "$res/$name-warm-fill.jsonl"

echo "bench: config-only rebuild (a config.txt line changes; rootfs from cache)"
cat > "$work/changed.yaml" <<YAML
extends: $(realpath "$spec")
boot:
  configTxt: [arm_64bit=1, enable_uart=1, upstream_kernel=1, disable_overscan=1, dtparam=audio=off]
YAML
cp "$lock" "$work/changed.lock.json"
config_load=$(load)
t=$(now); node bin/kiln.js build "$work/changed.yaml" --out "$work/dist2" --json > "$res/$name-config.jsonl"; config=$(secs "$t" "$(now)")

echo "bench: no-op rebuild"
noop_load=$(load)
t=$(now); node bin/kiln.js build "$spec" --lock "$lock" --out "$work/dist" --json > "$res/$name-noop.jsonl"; noop=$(secs "$t" "$(now)")

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
cat > "$res/build-$name.json" <<JSON
{ "spec": "$spec", "date": "$(date -u +%FT%TZ)", "coldSeconds": $cold, "configOnlySeconds": $config, "noopSeconds": $noop,
  "loadAverage1m": { "configOnly": $config_load, "noop": $noop_load },
  "plainMmdebstrapSeconds": ${plain:-null}, "imageBytes_zstBytes_mappedBytes": "$img" }
JSON
cat "$res/build-$name.json"
echo; echo "where the config-only rebuild's time went:"; node bench/timeline.mjs "$res/$name-config.jsonl" | head -20
if [ -z "$warm" ]; then
  node bench/timeline.mjs "$res/$name-cold.jsonl" > "$res/$name-cold-timeline.txt"
  echo; echo "where the cold build's time went:"; head -40 "$res/$name-cold-timeline.txt"
fi
