// Which amd64 packages make up the native tool root, and which of their programs the build may run
// natively inside the arm64 tree. Pure: the lock resolver and the tool-root builder both read it.

import { KilnError } from '../../util/errors.js';

/**
 * The build tools maintainer scripts call by name: dpkg itself, the shells and perl that
 * interpret the scripts, the coreutils-level tools they call, and the programs behind the slow
 * deferred work (systemd-hwdb, depmod, openssl rehash, zstd and cpio for the initramfs). Each is
 * locked for amd64 at the image's own source version, so a script gets the same program, only
 * compiled for the build host.
 */
export const NATIVE_TOOL_PACKAGES: readonly string[] = [
  'bash',
  'bsdutils',
  'coreutils',
  'cpio',
  'dash',
  'debianutils',
  'diffutils',
  'dpkg',
  'findutils',
  'grep',
  'gzip',
  'hostname',
  'init-system-helpers',
  'kmod',
  'mawk',
  'openssl',
  'passwd',
  'perl-base',
  'procps',
  'sed',
  'systemd',
  'tar',
  'udev',
  'util-linux',
  'zstd',
];

/**
 * Programs that stay the image's own (emulated) even when a native twin exists: their output
 * depends on the architecture they run as (ldconfig's cache, ldd's loader, uname/arch's answer,
 * locale data).
 */
export const KEEP_EMULATED: ReadonlySet<string> = new Set(['ldconfig', 'ldd', 'uname', 'arch', 'getent', 'locale', 'localedef', 'iconv', 'zdump', 'tzselect']);

/**
 * dpkg's programs carry the architecture they were compiled for as their native one: it decides
 * which packages satisfy an `Architecture: all` package's dependencies and what
 * `--print-architecture` says. The twins are given the image's (one `amd64\0` → `arm64\0`, the
 * same length), so they behave as the image's own dpkg compiled for the build host would.
 */
export const DPKG_PROGRAMS: readonly string[] = [
  'dpkg',
  'dpkg-deb',
  'dpkg-divert',
  'dpkg-query',
  'dpkg-split',
  'dpkg-statoverride',
  'dpkg-trigger',
  'update-alternatives',
  'dpkg-realpath',
];

/** Rewrites the one compiled-in architecture name; undefined when the program has none. */
export function retargetArchitecture(program: Buffer, from: string, to: string): Buffer | undefined {
  if (from.length !== to.length) throw new KilnError(`cannot retarget ${from} to ${to}: the names differ in length`);
  const needle = Buffer.from(`${from}\0`, 'latin1');
  const at = program.indexOf(needle);
  if (at < 0) return undefined;
  if (program.indexOf(needle, at + 1) >= 0) throw new KilnError(`more than one "${from}" in the program: which one is the architecture is not known`);
  const out = Buffer.from(program);
  out.write(`${to}\0`, at, 'latin1');
  return out;
}

/** The interpreters bound over the tree's own copies once the essential set is installed. */
export const NATIVE_INTERPRETERS: readonly string[] = ['/usr/bin/dash', '/usr/bin/bash', '/usr/bin/perl'];

/** `3.11-4+b1` and `3.11-4` are one source build: a binNMU rebuilds, it does not change code. */
export function sourceVersion(version: string): string {
  return version.replace(/\+b\d+$/, '');
}

/** The amd64 loader path every native program names; the deferred copies name another. */
export const HOST_LOADER = '/lib64/ld-linux-x86-64.so.2';

/** Points a program's ELF interpreter elsewhere; the new path must not be longer than the old. */
export function relocateInterpreter(program: Buffer, from: string, to: string): Buffer {
  if (to.length > from.length) throw new KilnError(`interpreter ${to} is longer than ${from}`);
  const needle = Buffer.from(`${from}\0`, 'latin1');
  const at = program.indexOf(needle);
  if (at < 0) throw new KilnError(`the program does not name ${from} as its interpreter`);
  const out = Buffer.from(program);
  out.fill(0, at, at + needle.length);
  out.write(to, at, 'latin1');
  return out;
}

/**
 * The packages whose programs write the image's bytes after the rootfs (the image tools): tar
 * unpacks the rootfs into the tree, e2fsprogs makes the ext4 root (mke2fs, debugfs; e2fsck checks
 * it), dosfstools and mtools the FAT boot partition, zstd the .zst. Locked for the build host's
 * architecture (amd64 or arm64) from the image's suite, with their own closure, in every rootfs
 * mode: they run from their own unpacked root (image-tool-root.ts), never from the host's PATH.
 * The MBR partition table is kiln's own code (src/disk/mbr.ts): no sfdisk.
 */
export const IMAGE_TOOL_PACKAGES: readonly string[] = ['dosfstools', 'e2fsprogs', 'mtools', 'tar', 'zstd'];

/** Each program kiln runs from the image tools, and the package that must provide it. */
export const IMAGE_TOOL_PROGRAMS = {
  tar: 'tar',
  mke2fs: 'e2fsprogs',
  debugfs: 'e2fsprogs',
  e2fsck: 'e2fsprogs',
  'mkfs.fat': 'dosfstools',
  'fsck.fat': 'dosfstools',
  mmd: 'mtools',
  mcopy: 'mtools',
  zstd: 'zstd',
} as const satisfies Record<string, string>;
export type ImageToolProgram = keyof typeof IMAGE_TOOL_PROGRAMS;

/** Which programs make which of the image's bytes (the manifest's `imageTools.madeBy`). */
export const IMAGE_PRODUCTS = {
  /** the rootfs tar unpacked into the tree mke2fs copies */
  tree: ['tar'],
  /** the ext4 root partition */
  root: ['mke2fs', 'debugfs'],
  /** the FAT boot partition */
  boot: ['mkfs.fat', 'mmd', 'mcopy'],
  /** the compressed image */
  zst: ['zstd'],
} as const satisfies Record<string, readonly ImageToolProgram[]>;

/**
 * Where a Debian architecture's glibc puts its loader (the candidates, usrmerged or not, first found
 * wins) and its multiarch libraries.
 */
export function glibcLayout(arch: string): { loaders: string[]; libDirs: string[] } {
  const layouts: Record<string, { loader: string; dir: string; triplet: string }> = {
    amd64: { loader: 'ld-linux-x86-64.so.2', dir: 'lib64', triplet: 'x86_64-linux-gnu' },
    arm64: { loader: 'ld-linux-aarch64.so.1', dir: 'lib', triplet: 'aarch64-linux-gnu' },
  };
  const l = layouts[arch];
  if (!l) throw new KilnError(`kiln knows no glibc layout for ${arch} (image tools run on amd64 and arm64 hosts)`);
  return {
    loaders: [`/usr/${l.dir}/${l.loader}`, `/${l.dir}/${l.loader}`, `/usr/lib/${l.triplet}/${l.loader}`, `/lib/${l.triplet}/${l.loader}`],
    libDirs: [`/usr/lib/${l.triplet}`, `/lib/${l.triplet}`],
  };
}
