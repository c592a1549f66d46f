#!/usr/bin/env bash
# Build benchmark: cold build (no stage cache, native rootfs mode), config-only rebuild, no-op
# rebuild of one spec, and, for the ratio, plain mmdebstrap of the same package set (what a user
# would otherwise run), in the same run. Optional: --emulated adds a cold build with every maintainer
# script under qemu-user (the reference mode); --repro adds a second cold build under another TZ,
# umask, locale and directory and compares the image sha256 with the first.
# Writes bench/results/build-<spec>.json and prints a table. Run as root after `npm test` set-up:
#   bash bench/build.sh images/pi-k3s-test.yaml [--skip-plain] [--emulated] [--repro]
# --warm measures only the cheap rebuilds against the existing stage cache (no cold build, no plain
# mmdebstrap; the rootfs must be cached already), e.g. with the shared test image's lock:
#   bash bench/build.sh images/pi-k3s-test.yaml --warm --lock ~/.cache/kiln/test-image-2/pi-k3s-test.lock.json
set -euo pipefail
cd "$(dirname "$0")/.."
spec="${1:?usage: bench/build.sh <spec> [--skip-plain | --warm] [--lock <file>]}"
shift
skip_plain=""; warm=""; lock=""; emulated=""; repro=""
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-plain) skip_plain=--skip-plain ;;
    --warm) warm=1; skip_plain=--skip-plain ;;
    --emulated) emulated=1 ;;
    --repro) repro=1 ;;
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
  cold_load=$(load)
  t=$(now); node bin/kiln.js build "$spec" --lock "$lock" --out "$work/dist" --no-stage-cache --json > "$res/$name-cold.jsonl"; cold=$(secs "$t" "$(now)")
  cold_sha=$(tail -1 "$res/$name-cold.jsonl" | node -e "process.stdin.on('data',d=>console.log(JSON.parse(d).sha256))")
fi
emu=null
if [ -n "$emulated" ]; then
  echo "bench: cold build of $spec with --rootfs-mode emulated (the reference)"
  t=$(now); node bin/kiln.js build "$spec" --lock "$lock" --out "$work/dist-emu" --no-stage-cache --rootfs-mode emulated --json > "$res/$name-cold-emulated.jsonl"; emu=$(secs "$t" "$(now)")
  emu_sha=$(tail -1 "$res/$name-cold-emulated.jsonl" | node -e "process.stdin.on('data',d=>console.log(JSON.parse(d).sha256))")
  echo "bench: emulated image sha256 $emu_sha, native $cold_sha"
fi
repro_same=null
if [ -n "$repro" ]; then
  echo "bench: a second cold build under TZ=Pacific/Chatham LC_ALL=POSIX umask 077 from another directory"
  (cd "$work" && umask 077 && TZ=Pacific/Chatham LC_ALL=POSIX LANG=POSIX node "$OLDPWD/bin/kiln.js" build "$(realpath "$OLDPWD/$spec")" --lock "$lock" --out "$work/dist-repro" --no-stage-cache --json) > "$res/$name-cold-repro.jsonl"
  repro_sha=$(tail -1 "$res/$name-cold-repro.jsonl" | node -e "process.stdin.on('data',d=>console.log(JSON.parse(d).sha256))")
  echo "bench: second cold build sha256 $repro_sha, first $cold_sha"
  if [ "$repro_sha" = "$cold_sha" ]; then repro_same=true; else repro_same=false; fi
fi
# fill the stage cache (a cold run stores nothing) for the next runs: into its own output dir, so
# every stage runs (the cold run's output would make this an up-to-date no-op after the rootfs)
node bin/kiln.js build "$spec" --lock "$lock" --out "$work/dist-fill" --json > "$res/$name-warm-fill.jsonl"
[ -d "$work/dist/$name" ] || cp -a "$work/dist-fill/$name" "$work/dist/"

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
  "coldEmulatedSeconds": $emu, "secondColdBuildSameImage": $repro_same, "coldSha256": "${cold_sha:-}",
  "loadAverage1m": { "cold": ${cold_load:-null}, "configOnly": $config_load, "noop": $noop_load },
  "plainMmdebstrapSeconds": ${plain:-null}, "imageBytes_zstBytes_mappedBytes": "$img" }
JSON
cat "$res/build-$name.json"
if [ -n "$plain" ] && [ "$cold" != null ]; then echo "ratio: plain mmdebstrap / kiln cold = $(echo "scale=2; $plain / $cold" | bc)"; fi
echo; echo "where the config-only rebuild's time went:"; node bench/timeline.mjs "$res/$name-config.jsonl" | head -20
if [ -z "$warm" ]; then
  node bench/timeline.mjs "$res/$name-cold.jsonl" > "$res/$name-cold-timeline.txt"
  echo; echo "where the cold build's time went:"; head -40 "$res/$name-cold-timeline.txt"
fi
