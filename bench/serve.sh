#!/usr/bin/env bash
# Serve benchmark on loopback:
#   TFTP: a 30 MiB file with atftp, from kiln and from tftpd-hpa (in.tftpd) serving the same file,
#         lock-step at blksize 1024 (+ tsize, as the Pi asks) and with windowsize 16 added
#         (RFC 7440; tftpd-hpa 5.2 does not implement it and answers lock-step: it is compared
#         with what it does);
#   HTTP: a 512 MiB image with curl, from kiln and from nginx (one worker: kiln is one process).
# Each TFTP figure is the median of RUNS (default 3) alternating runs; HTTP one run each.
# Prints MB/s and ratios and writes bench/results/serve.json. Run as root after `npm test` set-up
# (needs dist-js/: npx tsc -p tsconfig.json):  bash bench/serve.sh   (HTTP=0 skips the HTTP part)
set -euo pipefail
cd "$(dirname "$0")/.."
res=bench/results; mkdir -p "$res"
work=$(mktemp -d /tmp/kiln-serve-bench-XXXX)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

TFTP_K=16969; TFTP_H=16970; HTTP_K=18080; HTTP_N=18081
name=bench-image
node bench/serve-fixture.mjs "$work/dist" "$name" 30 512
chmod -R a+rX "$work/dist"
export KILN_STATE="$work/state"
node bin/kiln.js node add bench-01 --serial 0b0b0b0b --image "$name" >/dev/null

KILN_LOG_LEVEL=warn node bin/kiln.js serve --no-dhcp --listen 127.0.0.1 --advertise 127.0.0.1 \
  --tftp-port $TFTP_K --http-port $HTTP_K --images-dir "$work/dist" >"$work/kiln.out" 2>&1 &
pids+=($!)
in.tftpd -L -u root -a 127.0.0.1:$TFTP_H -s "$work/dist/$name/boot" &
pids+=($!)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on; tcp_nopush on;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server { listen 127.0.0.1:$HTTP_N; root $work/dist; location /images/ { alias $work/dist/; } }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)

for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$HTTP_K/health" >/dev/null && break; sleep 0.1; done
sleep 0.5

now() { date +%s.%N; }
mbps() { printf '%.1f' "$(echo "scale=3; $1 / 1048576 / ($3 - $2)" | bc)"; }
src="$work/dist/$name/boot/big.bin"
size=$(stat -c %s "$src")

tftp_get() { # host port remote [extra atftp option]
  local out="$work/tftp.out" t0 t1 extra=()
  [ -n "${4:-}" ] && extra=(--option "$4")
  t0=$(now)
  atftp --option "blksize 1024" --option "tsize 0" "${extra[@]}" -g -r "$3" -l "$out" "$1" "$2" 2>/dev/null
  t1=$(now)
  cmp -s "$src" "$out" || { echo "TFTP bytes differ from $3" >&2; exit 1; }
  rm -f "$out"; mbps "$size" "$t0" "$t1"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
runs=${RUNS:-3}
declare -A tftp_all
for opt in "" "windowsize 16"; do
  echo "bench: TFTP 30 MiB, blksize 1024${opt:+, $opt}, $runs runs each"
  k=(); h=()
  for _ in $(seq 1 "$runs"); do
    k+=("$(tftp_get 127.0.0.1 $TFTP_K 0b0b0b0b/big.bin "$opt")")
    h+=("$(tftp_get 127.0.0.1 $TFTP_H big.bin "$opt")")
  done
  echo "  kiln: ${k[*]}  tftpd-hpa: ${h[*]}"
  tftp_all["kiln$opt"]=$(median "${k[@]}")
  tftp_all["hpa$opt"]=$(median "${h[@]}")
done
tftp_kiln=${tftp_all[kiln]}; tftp_hpa=${tftp_all[hpa]}
tftp_kiln_w=${tftp_all[kilnwindowsize 16]}; tftp_hpa_w=${tftp_all[hpawindowsize 16]}

ratio() { printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; }
http_get() { curl -s -o /dev/null -w '%{speed_download}' "$1" | awk '{ printf "%.1f", $1 / 1048576 }'; }
http_kiln=null; http_nginx=null; http_ratio=null
if [ "${HTTP:-1}" != 0 ]; then
  echo "bench: HTTP 512 MiB image"
  cat "$work/dist/$name/$name.img" > /dev/null # both servers read from the page cache
  http_kiln=$(http_get "http://127.0.0.1:$HTTP_K/images/$name/$name.img")
  http_nginx=$(http_get "http://127.0.0.1:$HTTP_N/images/$name/$name.img")
  http_ratio=$(ratio "$http_kiln" "$http_nginx")
fi

tftp_ratio=$(ratio "$tftp_kiln" "$tftp_hpa")
tftp_ratio_w=$(ratio "$tftp_kiln_w" "$tftp_hpa_w")
cat > "$res/serve.json" <<JSON
{"date":"$(date -u +%FT%TZ)","runs":$runs,"tftp":{"kilnMBps":$tftp_kiln,"tftpdHpaMBps":$tftp_hpa,"ratio":$tftp_ratio},"tftpWindow16":{"kilnMBps":$tftp_kiln_w,"tftpdHpaMBps":$tftp_hpa_w,"ratio":$tftp_ratio_w},"http":{"kilnMBps":$http_kiln,"nginxMBps":$http_nginx,"ratio":$http_ratio}}
JSON
printf '| transfer | kiln MB/s | reference | reference MB/s | ratio | target |\n|---|---|---|---|---|---|\n'
printf '| TFTP 30 MiB, blksize 1024 lock-step (atftp) | %s | tftpd-hpa 5.2 | %s | %s | >= 0.5 |\n' "$tftp_kiln" "$tftp_hpa" "$tftp_ratio"
printf '| TFTP 30 MiB, blksize 1024, windowsize 16 (atftp) | %s | tftpd-hpa 5.2 (no windowsize: lock-step) | %s | %s | >= 1.0 |\n' "$tftp_kiln_w" "$tftp_hpa_w" "$tftp_ratio_w"
[ "$http_kiln" = null ] || printf '| HTTP 512 MiB image (curl) | %s | nginx, 1 worker | %s | %s | >= 0.8 |\n' "$http_kiln" "$http_nginx" "$http_ratio"
