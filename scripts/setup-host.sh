#!/usr/bin/env bash
# Installs the host tools kiln drives (docs/architecture.md, "Host tools") and registers qemu-aarch64
# with binfmt_misc. Idempotent and fast when everything is present: it only calls apt when a package is
# missing. Needs root (or sudo) on Debian 12.
set -euo pipefail

packages=(
  # build (the image itself is written by the lock's e2fsprogs, dosfstools, mtools, zstd and tar:
  # docs/image-tools.md)
  mmdebstrap qemu-user-static binfmt-support arch-test gpgv debian-archive-keyring apt-utils
  # kiln diff, kiln verify and the tests read images with the host's own
  e2fsprogs dosfstools mtools fdisk zstd
  # kiln build --sign, kiln sign, kiln verify --key (ssh-keygen -Y; ssh-add for agent-held keys)
  openssh-client
  # tests and benchmarks
  qemu-system-arm u-boot-qemu tftp-hpa atftp busybox-static iproute2 bmap-tools diffoscope-minimal
  tftpd-hpa dnsmasq nginx-light ansible ansible-lint
  # the registry's PostgreSQL store: its tests start their own servers from Debian's binaries
  postgresql
  # the dashboard's browser tests drive Debian's Chromium (nothing downloads a browser)
  chromium
  # npm run check
  shellcheck
)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-host: installing ${missing[*]}"
  as_root apt-get update -qq
  # Debian's server package creates a "main" cluster on install; kiln's tests make their own, so
  # postgresql-common (which holds that setting) goes in first and is told not to (as the official
  # postgres image does). An existing cluster is left alone.
  if [[ " ${missing[*]} " == *" postgresql "* ]] && [ ! -d /etc/postgresql ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-common >/dev/null
    as_root pg_conftool /etc/postgresql-common/createcluster.conf set create_main_cluster false
  fi
  # The daemons in this list are test peers that kiln starts itself; keep their packaged services off.
  as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Containers often start without binfmt_misc mounted; mmdebstrap needs it to run arm64 maintainer scripts.
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
  as_root mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  as_root update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || \
    as_root update-binfmts --import qemu-aarch64 >/dev/null
fi
if ! grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64; then
  echo "setup-host: qemu-aarch64 binfmt lacks the F (fix-binary) flag; chroots would not find the interpreter" >&2
  exit 1
fi
arch-test arm64 >/dev/null || { echo "setup-host: arch-test arm64 failed: binfmt emulation is not working" >&2; exit 1; }
echo "setup-host: host ready"
