// Shell hooks that mmdebstrap runs against the chroot ("$1" is its root). They are part of the
// rootfs stage's cache key: editing one rebuilds the rootfs.

/**
 * Files replaced by no-ops while packages are configured: py3compile and each python's py_compile.py
 * (which python3.X-minimal's postinst runs over the whole stdlib). Byte-compiling under emulation
 * takes minutes, and kiln ships no .pyc files anyway (python writes them at first use).
 */
export function divertedDuringBuild(packageNames: readonly string[]): string[] {
  const pythons = packageNames.flatMap((n) => /^libpython(3\.\d+)-minimal$/.exec(n)?.[1] ?? []).sort();
  return [
    '/usr/bin/py3compile',
    '/usr/bin/pypy3compile',
    ...pythons.map((v) => `/usr/lib/python${v}/py_compile.py`),
    // Run once at the end instead of at each package that asks (see customizeHook): the kernel's
    // postinst makes the initramfs and the initramfs-tools trigger makes it again, ~5 min each
    // under emulation; update-ca-certificates runs at configure and again from its trigger.
    '/usr/sbin/update-initramfs',
    '/usr/sbin/update-ca-certificates',
  ];
}

/** Host keys a postinst would generate (RSA under emulation is slow) only for us to delete them. */
const sshHostKeys = ['rsa', 'ecdsa', 'ed25519'].map((t) => `/etc/ssh/ssh_host_${t}_key`);

/**
 * Before the spec's packages are installed: put the no-ops in place (dpkg installs the real files
 * beside them). Each stub is comment-only: a no-op as a shell script and as a python module alike.
 */
export function essentialHook(diverted: readonly string[]): string {
  return `#!/bin/sh
set -eu
for f in ${diverted.join(' ')}; do
  chroot "$1" dpkg-divert --quiet --local --rename --divert "$f.kiln-real" --add "$f"
  mkdir -p "$(dirname "$1$f")"
  printf '#!/bin/sh\\n# kiln build: skipped or deferred to the end of the build\\n' > "$1$f"
  chmod 0755 "$1$f"
done
# placeholders: openssh-server's postinst only generates keys that do not exist yet
mkdir -p "$1/etc/ssh"
for k in ${sshHostKeys.join(' ')}; do : > "$1$k"; done
`;
}

/**
 * After installation: undo the diversion, then strip everything that makes two builds differ or that
 * must be unique per node (DESIGN.md, reproducibility checklist).
 */
export function customizeHook(diverted: readonly string[], opts: { dbus: boolean }): string {
  // dbus keeps its own machine-id unless it points at the (empty, filled at first boot) system one
  const dbusMachineId = opts.dbus ? `rm -f "$r/var/lib/dbus/machine-id"\nln -s /etc/machine-id "$r/var/lib/dbus/machine-id"\n` : '';
  return `#!/bin/sh
set -eu
r="$1"
for f in ${diverted.join(' ')}; do
  rm -f "$r$f"
  chroot "$r" dpkg-divert --quiet --local --rename --remove "$f"
done
# the deferred work, once each
if [ -x "$r/usr/sbin/update-ca-certificates" ]; then chroot "$r" update-ca-certificates --fresh >/dev/null; fi
if [ -x "$r/usr/sbin/update-initramfs" ] && ls "$r"/boot/vmlinuz-* >/dev/null 2>&1; then
  chroot "$r" update-initramfs -c -k all
fi
# per-node identity: made at first boot (cloud-init makes ssh host keys; systemd the machine-id)
rm -f "$r"/etc/ssh/ssh_host_*
: > "$r/etc/machine-id"
${dbusMachineId}rm -f "$r/var/lib/systemd/random-seed" "$r/var/lib/systemd/credential.secret"
# host leftovers mmdebstrap copies in for debootstrap compatibility
rm -f "$r/etc/resolv.conf" "$r/etc/hostname"
# the build's file:// source; the overlay writes the real archive's sources
rm -f "$r/etc/apt/sources.list"
# caches and logs that record when and where the build ran
rm -f "$r/var/cache/ldconfig/aux-cache" "$r/var/cache/debconf/"*-old "$r/var/lib/dpkg/"*-old
rm -rf "$r/var/lib/apt/lists/"* "$r/var/cache/apt/"*.bin "$r/var/log/"*
find "$r" -xdev \\( -name __pycache__ -o -name '*.pyc' \\) -prune -exec rm -rf {} +
`;
}

/**
 * apt options inside the build. Recommends are off (the spec lists what it wants). debconf's
 * pre-install hook is cleared: apt-extracttemplates over every .deb costs a minute under emulation,
 * and with the noninteractive frontend the answers are the same at configure time.
 */
export const aptOptions = ['APT::Install-Recommends "false"', '#clear DPkg::Pre-Install-Pkgs'];

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
