// Shell hooks that mmdebstrap runs against the chroot ("$1" is its root). They are part of the
// rootfs stage's cache key: editing one rebuilds the rootfs.

/**
 * Before the spec's packages are installed: divert py3compile so Debian's python postinsts do not
 * byte-compile under emulation (slow, and kiln ships no .pyc files anyway: they are not reproducible
 * by default and python writes them at first use).
 */
export const essentialHook = `#!/bin/sh
set -eu
for f in /usr/bin/py3compile /usr/bin/pypy3compile; do
  chroot "$1" dpkg-divert --quiet --local --rename --divert "$f.kiln-real" --add "$f"
  printf '#!/bin/sh\\n# kiln build: byte-compiling is skipped while building the image\\nexit 0\\n' > "$1$f"
  chmod 0755 "$1$f"
done
`;

/**
 * After installation: undo the diversion, then strip everything that makes two builds differ or that
 * must be unique per node (DESIGN.md, reproducibility checklist).
 */
export const customizeHook = `#!/bin/sh
set -eu
r="$1"
for f in /usr/bin/py3compile /usr/bin/pypy3compile; do
  rm -f "$r$f"
  chroot "$r" dpkg-divert --quiet --local --rename --remove "$f"
done
# per-node identity: made at first boot (cloud-init makes ssh host keys; systemd the machine-id)
rm -f "$r"/etc/ssh/ssh_host_*
: > "$r/etc/machine-id"
rm -f "$r/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$r/var/lib/dbus/machine-id"
rm -f "$r/var/lib/systemd/random-seed" "$r/var/lib/systemd/credential.secret"
# host leftovers mmdebstrap copies in for debootstrap compatibility
rm -f "$r/etc/resolv.conf" "$r/etc/hostname"
# the build's file:// source; the overlay writes the real archive's sources
rm -f "$r/etc/apt/sources.list"
# caches and logs that record when and where the build ran
rm -f "$r/var/cache/ldconfig/aux-cache" "$r/var/cache/debconf/"*-old "$r/var/lib/dpkg/"*-old
rm -rf "$r/var/lib/apt/lists/"* "$r/var/cache/apt/"*.bin "$r/var/log/"*
find "$r" -xdev \\( -name __pycache__ -o -name '*.pyc' \\) -prune -exec rm -rf {} +
`;

/** dpkg filters: documentation and translations are dropped, licences are kept. */
export const dpkgExcludes = [
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
  'path-exclude=/usr/share/lintian/*',
];
