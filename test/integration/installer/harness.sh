# shellcheck shell=sh
# The functions below replace commands that init.sh's functions call, so nothing here calls them:
# shellcheck disable=SC2317
# Runs the installer's real enrolment and install_loop on the host (see runInstaller in harness.ts): init.sh is
# sourced with KILN_INSTALLER_LIB=1 (functions only) and the shell settings setup_pid1 makes; only
# what would act on the host itself is replaced, by shell functions (host busybox runs its applets
# in preference to anything on PATH, but functions win over applets).
set -f
umask 022
trap '' PIPE
# shellcheck source=src/installer/init.sh
. "$KILN_INIT"
reboot() { echo "reboot $*" >> "$CALLS"; }
console_shell() { echo console_shell >> "$CALLS"; exit 0; }
# The wait between attempts is the one sleep of $RETRY seconds (kiln.retry=, which the tests pick
# apart from install_once's own `sleep 1`).
sleep() {
  if [ "$1" = "$RETRY" ]; then
    echo "retry-wait $1" >> "$CALLS"
    if [ -n "${ON_RETRY:-}" ]; then eval "$ON_RETRY"; return 0; fi
  fi
  busybox sleep "$@"
}
mount() {
  if [ -n "${SNAPSHOT:-}" ]; then
    echo "snapshot $DEV" >> "$CALLS"
    dd if="$DEV" of="$SNAPSHOT" bs=65536 count=$((IMG_SIZE / 65536)) 2>/dev/null
  fi
  command mount "$@"
}
# A minimal VM kernel may lack the MBR partition parser (CONFIG_MSDOS_PARTITION): its re-read of
# the table finds nothing where the node's kernel finds partition 2. Then add the partitions the
# table names with partx (BLKPG), so write_seed_pointer meets the disk as on a node.
blockdev() {
  command blockdev "$@"
  _hrc=$?
  _hd=${2#/dev/}
  if [ "$1" = --rereadpt ] && [ ! -e "/sys/block/$_hd/${_hd}p2" ]; then
    echo "harness: the kernel found no partitions on $2; adding them with partx" >&2
    partx -a "$2"
  fi
  return "$_hrc"
}
mkdir -p "$STATE"
parse_cmdline "$CMDLINE"
enroll_loop || { echo "enroll-refused" >> "$CALLS"; console_shell; }
install_loop
echo install_loop-returned >> "$CALLS"
exit 9
