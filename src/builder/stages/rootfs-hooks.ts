// Shell hooks that mmdebstrap runs against the chroot ("$1" is its root). They are part of the
// rootfs stage's cache key: editing one rebuilds the rootfs.

import { NATIVE_INTERPRETERS } from '../native/tools.js';
import { modulesListFile } from '../initramfs-modules.js';
import type { BoardName } from '../../boards/catalog.js';

/** Where the native tool root appears inside the tree while packages are configured. */
export const NATIVE_MOUNT = '/.kiln-native';
/** Its directory of programs that maintainer scripts find first on PATH. */
export const NATIVE_PATH = `${NATIVE_MOUNT}/.path`;
/** The amd64 loader and libraries, where the native programs' ELF headers look for them. */
const NATIVE_LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib64'];

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
 * Native mode, after the essential .debs are extracted and before dpkg first runs: the tool root
 * (KILN_NATIVE_ROOT) and its loader and libraries appear in the tree, every bind read-only so a
 * failed build's cleanup can never delete through them. All mounts live in the build's private
 * mount namespace (rootfs.ts) and die with it. dpkg records the database's architecture on its
 * first run; the native dpkg would record its own, so arm64 is written first, as the image's own
 * dpkg writes it.
 */
export function nativeExtractHook(): string {
  return `#!/bin/sh
set -eu
r="$1"; t="$KILN_NATIVE_ROOT"
bindro() { mount --bind "$1" "$2"; mount -o remount,bind,ro "$2"; }
for d in ${NATIVE_MOUNT} ${NATIVE_LIB_DIRS.join(' ')}; do
  if [ -e "$r$d" ]; then echo "kiln: $d already exists in the tree; the native tool root cannot be mounted there" >&2; exit 1; fi
  mkdir "$r$d"
done
bindro "$t" "$r${NATIVE_MOUNT}"
${NATIVE_LIB_DIRS.map((d) => `bindro "$t${d}" "$r${d}"`).join('\n')}
ln -s usr/lib64 "$r/lib64"
echo arm64 > "$r/var/lib/dpkg/arch-native"
`;
}

/**
 * Native mode, once the essential set is installed (so dpkg never replaces them again): the native
 * shells and perl are bound over the tree's, so every `#!/bin/sh` maintainer script runs natively.
 */
export function nativeInterpretersHook(): string {
  return `#!/bin/sh
set -eu
r="$1"; t="$KILN_NATIVE_ROOT"
for b in ${NATIVE_INTERPRETERS.join(' ')}; do
  mount --bind "$t$b" "$r$b"
  mount -o remount,bind,ro "$r$b"
done
`;
}

/**
 * Programs the deferred work (update-ca-certificates, update-initramfs) runs by absolute path or
 * under its own PATH (mkinitramfs sets one): the shells, archiving, compressing, openssl's rehash
 * and the utilities the initramfs hooks call. None of them is one a hook copies into the initramfs
 * (that would ship an amd64 program; the host-arch guard refuses it): kmod, udevadm, busybox and
 * fsck stay the image's own.
 */
export const NATIVE_DEFERRED: readonly string[] = [
  'dash',
  'bash',
  'openssl',
  'cpio',
  'zstd',
  'find',
  'xargs',
  'sort',
  'sed',
  'grep',
  'cat',
  'cp',
  'ln',
  'mkdir',
  'rm',
  'rmdir',
  'mv',
  'readlink',
  'dirname',
  'basename',
  'mktemp',
  'touch',
  'chmod',
  'realpath',
  'tr',
  'cut',
  'head',
  'tail',
  'wc',
  'uniq',
  'stat',
  'env',
].map((p) => `/usr/bin/${p}`);

/**
 * Copies of NATIVE_DEFERRED in the tool root whose ELF interpreter is NATIVE_LOADER (same length as
 * /lib64/ld-linux-x86-64.so.2) and whose libraries come from LD_LIBRARY_PATH, so they run with no
 * amd64 directory in the tree's standard places.
 */
export const NATIVE_DEFERRED_DIR = '/.deferred';
export const NATIVE_LOADER = `${NATIVE_MOUNT}/lib64/ld.so.2`;
const deferredEnv = `PATH=/usr/sbin:/usr/bin:/sbin:/bin LD_LIBRARY_PATH=${NATIVE_MOUNT}/usr/lib/x86_64-linux-gnu `;

/**
 * Before the deferred work: the amd64 libraries and /lib64 leave the tree's standard places, where
 * mkinitramfs would see them (it mirrors /lib64 into the initramfs, and the udev hook copies the
 * libkmod of every /usr/lib multiarch directory: seen, an amd64 libkmod in the initrd), and the
 * relocated copies are bound over the tree's programs instead. dpkg does not run again, so nothing
 * replaces them.
 */
function nativeSwitchToDeferred(): string {
  return `# the native tool root steps out of the places the initramfs hooks look at
for b in ${NATIVE_INTERPRETERS.join(' ')}; do umount "$r$b"; done
for d in ${NATIVE_LIB_DIRS.join(' ')}; do umount "$r$d"; rmdir "$r$d"; done
rm "$r/lib64"
for b in ${NATIVE_DEFERRED.join(' ')}; do
  if [ -f "$r$b" ] && [ ! -L "$r$b" ] && [ -f "$KILN_NATIVE_ROOT${NATIVE_DEFERRED_DIR}$b" ]; then
    mount --bind "$KILN_NATIVE_ROOT${NATIVE_DEFERRED_DIR}$b" "$r$b"; mount -o remount,bind,ro "$r$b"
  fi
done
`;
}

/** Undoes the rest before anything is read out of the tree. */
function nativeTeardown(): string {
  return `# the native tool root leaves the tree before anything reads it out
for b in ${NATIVE_DEFERRED.join(' ')}; do if mountpoint -q "$r$b"; then umount "$r$b"; fi; done
umount "$r${NATIVE_MOUNT}"; rmdir "$r${NATIVE_MOUNT}"
sed -i '/^DPkg::Path /d' "$r/etc/apt/apt.conf.d/99mmdebstrap"
`;
}

/** apt's PATH for dpkg and its maintainer scripts in native mode (removed from the image again). */
export const nativeAptPath = `DPkg::Path "${NATIVE_PATH}:/usr/sbin:/usr/bin:/sbin:/bin"`;

/**
 * After installation: undo the diversion, then strip everything that makes two builds differ or that
 * must be unique per node (docs/architecture.md, "Reproducibility").
 *
 * The initramfs holds the boards' drivers only (src/builder/initramfs-modules.ts): the list is written
 * into the image so the node's own kernel updates build the same set.
 */
export function customizeHook(diverted: readonly string[], opts: { dbus: boolean; native: boolean; boards: readonly BoardName[] }): string {
  const env = opts.native ? deferredEnv : '';
  // dbus keeps its own machine-id unless it points at the (empty, filled at first boot) system one
  const dbusMachineId = opts.dbus ? `rm -f "$r/var/lib/dbus/machine-id"\nln -s /etc/machine-id "$r/var/lib/dbus/machine-id"\n` : '';
  return `#!/bin/sh
set -eu
r="$1"
for f in ${diverted.join(' ')}; do
  rm -f "$r$f"
  chroot "$r" dpkg-divert --quiet --local --rename --remove "$f"
done
${opts.native ? nativeSwitchToDeferred() : ''}# the deferred work, once each
if [ -x "$r/usr/sbin/update-ca-certificates" ]; then ${env}chroot "$r" update-ca-certificates --fresh >/dev/null; fi
if [ -x "$r/usr/sbin/update-initramfs" ] && ls "$r"/boot/vmlinuz-* >/dev/null 2>&1; then
  mkdir -p "$r/etc/initramfs-tools/conf.d" "$r/usr/share/initramfs-tools/modules.d"
  echo 'MODULES=list' > "$r/etc/initramfs-tools/conf.d/kiln-modules.conf"
  cat > "$r/usr/share/initramfs-tools/modules.d/kiln" <<'KILN_MODULES'
${modulesListFile(opts.boards)}KILN_MODULES
  ${env}chroot "$r" update-initramfs -c -k all
fi
${opts.native ? nativeTeardown() : ''}# per-node identity: made at first boot (cloud-init makes ssh host keys; systemd the machine-id)
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

/** dpkg filters: documentation, translations and other boards' device trees are dropped, licences are kept. */
export const dpkgExcludes = [
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
  'path-exclude=/usr/share/lintian/*',
  // The kernel ships device trees for every arm64 board (~120 MB); a Pi boots only Broadcom's.
  'path-exclude=/usr/lib/modules/*/dtb/*',
  'path-include=/usr/lib/modules/*/dtb/broadcom/*',
  'path-exclude=/usr/lib/linux-image-*/*',
  'path-include=/usr/lib/linux-image-*/broadcom/*',
];
