#!/bin/sh
# kiln installer: PID 1 of the installer initramfs (busybox only). It writes the fleet image to this
# node's disk and reboots into it. Everything it needs comes from the kernel command line that
# `kiln serve` rendered for this node (src/serve/plan/bootfiles.ts, renderCmdline):
#   kiln.node=NAME kiln.image=URL(.img) kiln.bmap=URL kiln.sha256=HEX kiln.events=URL kiln.token=T
#   optional: kiln.disk=mmcblk0|/dev/sda  kiln.retry=SECONDS (0: never)
#   kiln.debug=1 (a shell on the console before anything is written)
# kiln.token is a one-use install token (the command line is served over TFTP to anyone): the
# installer first trades it for the node's credential (enroll), reports with that credential, and
# leaves it on the installed disk inside the seed URL, where the node's first boot finds it.
# Failures are reported as `install-failed` and the node stays here (no reboot loop); a retry
# skips ranges already written and verified in this boot and re-reads everything at the end.

# KILN_INSTALLER_LIB=1 only defines the functions (the unit tests and test/integration/installer
# source the script on the host).

PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH

setup_pid1() {
  /bin/busybox mkdir -p /proc /sys /dev /run /tmp /mnt /sbin /usr/bin /usr/sbin
  /bin/busybox mount -t proc proc /proc
  /bin/busybox mount -t sysfs sysfs /sys
  /bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
  /bin/busybox mount -t tmpfs -o mode=0755 tmpfs /run
  /bin/busybox --install -s
  exec </dev/console >/dev/console 2>&1
  # A closed connection must fail the transfer, not kill the shell.
  trap '' PIPE
  set -f
  umask 022
}

CR=$(printf '\r')
STATE=${STATE:-/run/kiln}
CHUNK=$((8 * 1048576))
say() { echo "kiln-installer: $*"; }

# ---- kernel command line ---------------------------------------------------------------------
NODE='' IMAGE='' BMAP='' SHA='' EVENTS='' TOKEN='' SEED='' DISK_ARG='' RETRY=60 DEBUG=0
parse_cmdline() {
  for arg in $1; do
    case "$arg" in
      kiln.node=*) NODE=${arg#*=} ;;
      kiln.image=*) IMAGE=${arg#*=} ;;
      kiln.bmap=*) BMAP=${arg#*=} ;;
      kiln.sha256=*) SHA=${arg#*=} ;;
      kiln.events=*) EVENTS=${arg#*=} ;;
      kiln.token=*) TOKEN=${arg#*=} ;;
      kiln.disk=*) DISK_ARG=${arg#*=} ;;
      kiln.retry=*) RETRY=${arg#*=} ;;
      kiln.debug=*) DEBUG=${arg#*=} ;;
    esac
  done
}

# ---- HTTP over busybox nc: busybox wget refuses the 206 answer to a Range request ------------
# split URL into HOST PORT PATH
split_url() {
  u=${1#http://}
  hp=${u%%/*}
  P=/${u#*/}
  [ "$u" = "$hp" ] && P=/
  H=${hp%:*}
  PORT=${hp##*:}
  [ "$PORT" = "$hp" ] && PORT=80
}

# http_raw NAME HOST PORT FORMAT ARGS...: sends `printf FORMAT ARGS`, the raw answer on stdout.
# nc's stdin stays open (fd 3 on a fifo) until the server closes: kiln's HTTP server drops the
# answer to a request whose sender half-closes the connection.
http_raw() {
  rm -f "$STATE/$1"; mkfifo "$STATE/$1"
  nc "$2" "$3" < "$STATE/$1" &
  ncpid=$!
  exec 3>"$STATE/$1"
  shift 3
  # shellcheck disable=SC2059
  printf "$@" >&3
  wait "$ncpid"; ncrc=$?
  exec 3>&-
  return "$ncrc"
}

# http_get URL [FIRST LAST [CONSUMER]]: the body goes to CONSUMER's stdin (default: stdout);
# fails unless 200 (or 206 for a range). The consumer reads nc's pipe directly: one copy less.
http_get() {
  split_url "$1"
  consumer=${4:-cat}
  if [ -n "${2:-}" ]; then range="Range: bytes=$2-$3$CR
"; want=206; else range=''; want=200; fi
  http_raw req.get "$H" "$PORT" 'GET %s HTTP/1.0\r\nHost: %s\r\n%sConnection: close\r\n\r\n' "$P" "$hp" "$range" | {
    IFS= read -r status || { echo "no answer from $hp" >&2; exit 3; }
    case "$status" in
      "HTTP/1."?" $want "*) ;;
      *) echo "GET $1${2:+ bytes $2-$3}: ${status%"$CR"}" >&2; exit 4 ;;
    esac
    while IFS= read -r h; do h=${h%"$CR"}; [ -z "$h" ] && break; done
    "$consumer"
  }
}

json_str() { printf '%s' "$1" | tr -d '\000-\037\042\134' | cut -c1-900; }

# report TYPE MESSAGE [EXTRA-JSON-FIELDS]; best effort, but a 5xx (kiln up, its registry store
# unreachable for a moment: the report was not recorded) is sent again, up to REPORT_TRIES times
REPORT_TRIES=${REPORT_TRIES:-6}
report() {
  [ -n "$EVENTS" ] || return 0
  body="{\"type\":\"$1\",\"message\":\"$(json_str "$2")\"${3:+,$3}}"
  split_url "$EVENTS"
  try=1
  while :; do
    http_raw req.post "$H" "$PORT" 'POST %s HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
      "$P" "$hp" "$TOKEN" "${#body}" "$body" > "$STATE/answer" 2>/dev/null
    case "$(head -n 1 "$STATE/answer")" in
      "HTTP/1."?" 5"*) [ "$try" -lt "$REPORT_TRIES" ] || break; try=$((try + 1)); sleep 5 ;;
      *) break ;;
    esac
  done
  say "$1: $2"
}

now() { cut -d. -f1 /proc/uptime; }

# ---- enrolment: the install token for the node's credential ---------------------------------
# Where the credential lives on an installed disk (root partition), for a later self-heal to prove
# it is the same node.
CRED_FILE=/var/lib/kiln/credential

# The credential on the disk this node is about to overwrite, if it is readable: kiln asks for it
# when a netboot (not the operator) switched the node to install.
previous_credential() {
  choose_disk || return 0
  root=$(part_dev "/dev/$DISK" 2)
  [ -b "$root" ] || return 0
  mount -t ext4 -o ro,noload "$root" /mnt 2>/dev/null || return 0
  PREV=$(head -c 64 "/mnt$CRED_FILE" 2>/dev/null | tr -dc 0-9a-f)
  umount /mnt
  [ ${#PREV} -eq 64 ] || PREV=''
}

# Sets TOKEN to the node's credential and SEED to its seed URL. Returns 2 when kiln refused (no
# point retrying: its answer says why), 1 when kiln could not be reached.
enroll() {
  if [ -z "$TOKEN" ] || [ -z "$EVENTS" ]; then REASON="kernel command line lacks kiln.token or kiln.events"; return 2; fi
  PREV=''
  previous_credential
  if [ -n "$PREV" ]; then body="{\"previous\":\"$PREV\"}"; else body='{}'; fi
  split_url "${EVENTS%/events}/enroll"
  http_raw req.enroll "$H" "$PORT" 'POST %s HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
    "$P" "$hp" "$TOKEN" "${#body}" "$body" > "$STATE/enroll" 2>/dev/null
  status=$(head -n 1 "$STATE/enroll" | tr -d '\r')
  case "$status" in
    "HTTP/1."?" 201 "*) ;;
    # kiln up but its store unreachable: nothing was decided, the token is still unused
    "HTTP/1."?" 5"*) REASON="kiln could not enrol now: $status"; return 1 ;;
    "HTTP/1."*) REASON="kiln refused the enrolment: $status: $(sed -n 's/.*"error":"\([^"]*\)".*/\1/p' "$STATE/enroll")"; return 2 ;;
    *) REASON="no answer from $hp to the enrolment"; return 1 ;;
  esac
  cred=$(sed -n 's/.*"credential":"\([0-9a-f]\{64\}\)".*/\1/p' "$STATE/enroll")
  SEED=$(sed -n 's/.*"seedUrl":"\([^"]*\)".*/\1/p' "$STATE/enroll")
  if [ -z "$cred" ] || [ -z "$SEED" ]; then REASON="kiln's enrolment answer has no credential"; return 2; fi
  TOKEN=$cred
  say "enrolled${PREV:+ (with the credential from the old disk)}"
}

# Tries for a minute while kiln is unreachable or cannot decide; a refusal is final (the token is single-use).
enroll_loop() {
  tries=0
  while :; do
    enroll; rc=$?
    [ "$rc" -eq 0 ] && return 0
    tries=$((tries + 1))
    if [ "$rc" -eq 2 ] || [ "$tries" -ge 12 ]; then say "$REASON"; return 1; fi
    sleep 5
  done
}

# ---- modules and network ---------------------------------------------------------------------
load_modules() {
  kver=$(uname -r)
  [ -r "/lib/modules/$kver/kiln-load-order" ] || return 0
  while read -r m; do
    insmod "/lib/modules/$kver/$m" 2>/dev/null
  done < "/lib/modules/$kver/kiln-load-order"
}

net_up() {
  ip link set lo up
  t=0
  while [ "$t" -lt 30 ]; do
    set +f
    devs=$(echo /sys/class/net/*)
    set -f
    for dev in $devs; do
      i=${dev##*/}
      [ "$i" = lo ] && continue
      ip link set "$i" up 2>/dev/null
      if udhcpc -i "$i" -n -q -t 4 -T 2 -V kiln-installer -s /etc/kiln/udhcpc.script >/dev/null 2>&1; then
        say "network up on $i: $(ip -4 -o addr show dev "$i" | awk '{print $4}')"
        return 0
      fi
    done
    sleep 2
    t=$((t + 10))
  done
  return 1
}

# ---- target disk -----------------------------------------------------------------------------
part_dev() { case "$1" in *[0-9]) echo "${1}p$2" ;; *) echo "$1$2" ;; esac; }

choose_disk() {
  want=${DISK_ARG#/dev/}
  t=0
  while [ "$t" -lt 20 ]; do
    if [ -n "$want" ]; then
      [ -e "/sys/block/$want" ] && { DISK=$want; return 0; }
    else
      # SD first (the Pi's own card), then NVMe, USB/SATA, virtio (QEMU)
      for pat in 'mmcblk[0-9]' 'mmcblk[0-9][0-9]' 'nvme[0-9]n[0-9]' 'sd[a-z]' 'vd[a-z]'; do
        set +f
        for d in /sys/block/$pat; do
          set -f
          [ -e "$d" ] || continue
          DISK=${d##*/}
          return 0
        done
        set -f
      done
    fi
    sleep 1
    t=$((t + 1))
  done
  return 1
}

# ---- bmap ------------------------------------------------------------------------------------
# writes "$STATE/ranges" as lines: FIRST-BLOCK LAST-BLOCK SHA256
parse_bmap() {
  IMG_SIZE=$(sed -n 's:.*<ImageSize> *\([0-9]*\) *</ImageSize>.*:\1:p' "$STATE/bmap")
  BS=$(sed -n 's:.*<BlockSize> *\([0-9]*\) *</BlockSize>.*:\1:p' "$STATE/bmap")
  grep -q '<ChecksumType> *sha256 *</ChecksumType>' "$STATE/bmap" || return 1
  sed -n 's:.*<Range chksum="\([0-9a-f]\{64\}\)"> *\([0-9]*\)-\{0,1\}\([0-9]*\) *</Range>.*:\2 \3 \1:p' "$STATE/bmap" |
    awk '{ if ($3 == "") { print $1, $1, $2 } else { print $1, $2, $3 } }' > "$STATE/ranges"
  [ -n "$IMG_SIZE" ] && [ -n "$BS" ] && [ -s "$STATE/ranges" ]
}

# ---- one attempt -----------------------------------------------------------------------------
REASON=''
fail() { REASON=$1; return 1; }

progress() {
  t=$(now)
  el=$((t - T0)); [ "$el" -gt 0 ] || el=1
  rate=$((DONE / el))
  pct=$((DONE * 100 / TOTAL))
  report install-progress "$1 $DONE of $TOTAL bytes, $(mibs "$rate") MiB/s" \
    "\"progress\":$pct,\"bytes\":$DONE,\"total\":$TOTAL,\"bytesPerSecond\":$rate"
  LAST=$t
}

# The body of one chunk, written at its offset; a short body is an error.
to_disk() {
  dd of="$DEV" bs=1M iflag=fullblock oflag=seek_bytes seek="$OFF" conv=notrunc 2>"$STATE/dd"
  grep -q "^$(((stop - OFF) / 1048576))+$([ $(((stop - OFF) % 1048576)) -ne 0 ] && echo 1 || echo 0) records out" "$STATE/dd" ||
    { echo "short transfer: $(tail -n 2 "$STATE/dd" | tr '\n' ' ')" >&2; return 1; }
}

range_sha() {
  dd if="$DEV" bs=1M iflag=skip_bytes,count_bytes skip=$(($1 * BS)) count=$((($2 - $1 + 1) * BS)) 2>/dev/null |
    sha256sum | cut -d' ' -f1
}

# The blocks the block map leaves out are zero in the image, and the filesystems rely on it (ext4
# inode tables and reserved GDT blocks, FAT tables past the last cluster in use): on a disk that
# held data before, they must be made zero or the new filesystems read the old bytes as their own
# metadata. Once per disk; a retry that finds it done skips it.
zero_gaps() {
  grep -qx zeroed "$STATE/done" && return 0
  awk -v bs="$BS" -v size="$IMG_SIZE" 'BEGIN { pos = 0 }
    { if ($1 * bs > pos) print pos, $1 * bs - pos; pos = ($2 + 1) * bs }
    END { if (size > pos) print pos, size - pos }' "$STATE/ranges" > "$STATE/gaps"
  gap_total=$(awk '{ n += $2 } END { print n + 0 }' "$STATE/gaps")
  say "zeroing $gap_total bytes of $DEV that the block map leaves out"
  z0=$(now)
  while read -r goff glen; do
    dd if=/dev/zero of="$DEV" bs=1M iflag=count_bytes oflag=seek_bytes seek="$goff" count="$glen" conv=notrunc 2>"$STATE/dd" ||
      { fail "zeroing $glen bytes at $goff failed: $(tail -n 2 "$STATE/dd" | tr '\n' ' ')"; return 1; }
  done < "$STATE/gaps"
  ZERO_S=$(($(now) - z0))
  echo zeroed >> "$STATE/done"
}

mibs() { echo "$(($1 / 1048576)).$(($1 * 10 / 1048576 % 10))"; }

install_once() {
  if [ -z "$IMAGE" ] || [ -z "$BMAP" ] || [ -z "$SHA" ]; then fail "kernel command line lacks kiln.image, kiln.bmap or kiln.sha256"; return 1; fi
  http_get "$BMAP" > "$STATE/bmap" || { fail "cannot fetch the block map $BMAP"; return 1; }
  parse_bmap || { fail "cannot read the block map (need bmap 2.0 with sha256 ranges)"; return 1; }
  choose_disk || { fail "no target disk found${DISK_ARG:+ (kiln.disk=$DISK_ARG)}"; return 1; }
  DEV=/dev/$DISK
  disk_bytes=$(($(cat "/sys/block/$DISK/size") * 512))
  [ "$(cat "/sys/block/$DISK/ro" 2>/dev/null)" = 1 ] && { fail "$DEV is read-only"; return 1; }
  [ "$disk_bytes" -ge "$IMG_SIZE" ] || { fail "$DEV holds $disk_bytes bytes, the image needs $IMG_SIZE"; return 1; }
  TOTAL=$(awk -v bs="$BS" '{ n += ($2 - $1 + 1) * bs } END { print n }' "$STATE/ranges")
  report install-started "writing $TOTAL mapped bytes of a $IMG_SIZE-byte image to $DEV ($disk_bytes bytes), attempt $ATTEMPT" \
    "\"disk\":\"$DEV\",\"bytes\":0,\"total\":$TOTAL,\"attempt\":$ATTEMPT"

  touch "$STATE/done"
  zero_gaps || return 1
  T0=$(now) LAST=$T0 DONE=0
  while read -r first last sum; do
    n=$((last - first + 1))
    if grep -qx "$first $last $sum" "$STATE/done"; then DONE=$((DONE + n * BS)); continue; fi
    : > "$STATE/err"
    OFF=$((first * BS))
    END=$(((last + 1) * BS))
    # In chunks, so progress is reported every few seconds even inside a range of hundreds of MiB.
    while [ "$OFF" -lt "$END" ]; do
      stop=$((OFF + CHUNK)); [ "$stop" -gt "$END" ] && stop=$END
      if ! http_get "$IMAGE" "$OFF" $((stop - 1)) to_disk 2>>"$STATE/err"; then
        fail "blocks $first-$last: transfer at byte $OFF failed: $(head -c 300 "$STATE/err")"
        return 1
      fi
      DONE=$((DONE + stop - OFF))
      OFF=$stop
      [ $(($(now) - LAST)) -ge 5 ] && progress written
    done
    # The range as written (still in the page cache): one sha256 against the block map.
    got=$(range_sha "$first" "$last")
    if [ "$got" != "$sum" ]; then
      fail "blocks $first-$last: sha256 as written $got, the block map says $sum $(head -c 300 "$STATE/err")"
      return 1
    fi
    echo "$first $last $sum" >> "$STATE/done"
  done < "$STATE/ranges"
  progress written
  sync

  # Read everything back from the device itself, not from the page cache.
  blockdev --flushbufs "$DEV" 2>/dev/null
  echo 3 > /proc/sys/vm/drop_caches
  V0=$(now)
  while read -r first last sum; do
    got=$(range_sha "$first" "$last")
    [ "$got" = "$sum" ] || { sed -i "/^$first $last /d" "$STATE/done"; fail "read-back of blocks $first-$last: sha256 $got, expected $sum"; return 1; }
  done < "$STATE/ranges"
  VERIFY_S=$(($(now) - V0))

  # A disk that once held GPT keeps its backup header at the end; nothing else outside the image
  # is touched.
  last_lba=$((disk_bytes / 512 - 1))
  if [ "$(dd if="$DEV" bs=512 skip="$last_lba" count=1 2>/dev/null | head -c 8)" = "EFI PART" ]; then
    dd if=/dev/zero of="$DEV" bs=512 seek="$last_lba" count=1 conv=notrunc 2>/dev/null
  fi

  blockdev --rereadpt "$DEV" 2>/dev/null
  sleep 1
  write_seed_pointer || return 1
  sync
  return 0
}

# The image is the same for every node, so its kernel command line names no seed. After the image
# is verified, the installer leaves a pointer to this node's seed in the root filesystem:
# cloud-init's NoCloud takes `datasource.NoCloud.seedfrom` from its system config (that is what
# makes the network-stage datasource detect itself, cloud-init 24.1+), and ds-identify finds the
# local seed dir beside it. The seed itself, with the node's secrets, comes from kiln at first boot.
# The seed URL carries the node's credential, so every file that holds it is root's alone.
seed_pointer_files() { # ROOT-DIR SEED-URL CREDENTIAL
  mkdir -p "$1/etc/cloud/cloud.cfg.d" "$1/var/lib/cloud/seed/nocloud-net" "$1${CRED_FILE%/*}"
  old_umask=$(umask)
  umask 077
  printf '# written by the kiln installer: where this node takes its NoCloud seed\ndatasource:\n  NoCloud:\n    seedfrom: %s\n' "$2" \
    > "$1/etc/cloud/cloud.cfg.d/95-kiln-seed.cfg"
  printf 'seedfrom: %s\n' "$2" > "$1/var/lib/cloud/seed/nocloud-net/meta-data"
  printf '#cloud-config\n{}\n' > "$1/var/lib/cloud/seed/nocloud-net/user-data"
  printf '%s\n' "$3" > "$1$CRED_FILE"
  umask "$old_umask"
}

write_seed_pointer() {
  [ -n "$SEED" ] || return 0
  root=$(part_dev "$DEV" 2)
  [ -b "$root" ] || { fail "no root partition $root after writing"; return 1; }
  mount -t ext4 "$root" /mnt || { fail "cannot mount $root to leave the seed pointer"; return 1; }
  seed_pointer_files /mnt "$SEED" "$TOKEN"
  umount /mnt
}

parked() { grep -q '"parked":true' "$STATE/answer" 2>/dev/null; }

# ---- main ------------------------------------------------------------------------------------
# Where the installer ends when it gives up: a shell on the console. Never returns. (A function so
# that test/integration/installer can run install_loop on the host with its own stand-in.)
console_shell() { exec setsid cttyhack sh; }

# Attempts until one is written and verified (then reboot into it). Every failure is reported; the
# node stays in the installer, retrying after kiln.retry seconds unless kiln parked it or
# kiln.retry=0, which leave it in console_shell.
install_loop() {
  ATTEMPT=1
  while :; do
    if install_once; then
      el=$(($(now) - T0))
      report installed "image sha256 $SHA written to $DEV and verified ($TOTAL bytes in ${el}s, read-back ${VERIFY_S}s, ${ZERO_S:-0}s zeroing the rest)" \
        "\"sha256\":\"$SHA\",\"disk\":\"$DEV\",\"bytes\":$TOTAL,\"total\":$TOTAL,\"attempt\":$ATTEMPT"
      say "rebooting into the installed system"
      sync
      sleep 1
      reboot -f
      exit 0
    fi
    report install-failed "$REASON" "\"attempt\":$ATTEMPT"
    if parked; then
      say "kiln parked this node after repeated failures; staying here. Fix it, then: kiln node reprovision $NODE"
      console_shell
    fi
    if [ "$RETRY" -le 0 ] 2>/dev/null; then
      say "not retrying (kiln.retry=0); power-cycle the node to try again"
      console_shell
    fi
    say "retrying in ${RETRY}s (attempt $((ATTEMPT + 1)))"
    sleep "$RETRY"
    ATTEMPT=$((ATTEMPT + 1))
  done
}

main() {
  mkdir -p "$STATE"
  parse_cmdline "$(cat /proc/cmdline)"
  say "starting (node ${NODE:-?})"
  load_modules
  if ! net_up; then
    say "no network: no interface got a DHCP lease. Dropping to a shell."
    console_shell
  fi
  [ "$DEBUG" = 1 ] && { say "kiln.debug=1: shell before install (exit to continue)"; setsid cttyhack sh; }
  if ! enroll_loop; then
    say "cannot install without the node's credential. Fix it, then: kiln node reprovision $NODE"
    console_shell
  fi
  install_loop
}

[ -n "${KILN_INSTALLER_LIB:-}" ] || { setup_pid1; main; }
