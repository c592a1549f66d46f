import { describe, expect, it } from 'vitest';
import { blankConfigPaths, debPaths, MTOOLS_CONFIG_PATHS } from '../../../src/builder/native/image-tools.js';
import { glibcLayout, IMAGE_PRODUCTS, IMAGE_TOOL_PACKAGES, IMAGE_TOOL_PROGRAMS } from '../../../src/builder/native/tools.js';

describe('image tool set', () => {
  it('locks the package of every program kiln runs, and every product names programs kiln runs', () => {
    for (const pkg of Object.values(IMAGE_TOOL_PROGRAMS)) expect(IMAGE_TOOL_PACKAGES).toContain(pkg);
    for (const programs of Object.values(IMAGE_PRODUCTS)) for (const p of programs) expect(Object.keys(IMAGE_TOOL_PROGRAMS)).toContain(p);
    // the partition table is kiln's own code: no partitioning tool is locked or run
    expect(IMAGE_TOOL_PACKAGES).not.toContain('fdisk');
  });

  it("knows the loader and library directories of an amd64 and an arm64 host's glibc", () => {
    expect(glibcLayout('amd64')).toEqual({
      loaders: [
        '/usr/lib64/ld-linux-x86-64.so.2',
        '/lib64/ld-linux-x86-64.so.2',
        '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
        '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
      ],
      libDirs: ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu'],
    });
    expect(glibcLayout('arm64').loaders[0]).toBe('/usr/lib/ld-linux-aarch64.so.1');
    expect(() => glibcLayout('riscv64')).toThrow(/no glibc layout for riscv64/);
  });
});

describe('blankConfigPaths', () => {
  it("sets the first byte of each whole compiled-in path to NUL and leaves the rest, and other strings' tails, alone", () => {
    const program = Buffer.from('\0/etc/mtools.conf\0see /etc/mtools.conf\0/etc/default/mtools\0x', 'latin1');
    const out = blankConfigPaths(program, MTOOLS_CONFIG_PATHS);
    expect(out?.toString('latin1')).toBe('\0\0etc/mtools.conf\0see /etc/mtools.conf\0\0etc/default/mtools\0x');
    expect(out?.length).toBe(program.length);
    // the input is not changed
    expect(program.toString('latin1')).toContain('\0/etc/mtools.conf\0');
  });

  it('says when the program names none of the paths (an mtools kiln does not know)', () => {
    expect(blankConfigPaths(Buffer.from('\0/etc/other.conf\0'), MTOOLS_CONFIG_PATHS)).toBeUndefined();
  });
});

describe('debPaths', () => {
  it('reads the paths of a dpkg-deb -c listing, links and directories included', () => {
    const listing = [
      'drwxr-xr-x root/root         0 2025-05-10 20:12 ./',
      'drwxr-xr-x root/root         0 2025-05-10 20:12 ./usr/sbin/',
      '-rwxr-xr-x root/root    137816 2025-05-10 20:12 ./usr/sbin/mke2fs',
      'lrwxrwxrwx root/root         0 2025-05-10 20:12 ./usr/bin/mcopy -> mtools',
      'hrwxr-xr-x root/root         0 2025-05-10 20:12 ./usr/sbin/mkfs.ext4 link to ./usr/sbin/mke2fs',
      '',
    ].join('\n');
    expect(debPaths(listing)).toEqual(['/usr/sbin', '/usr/sbin/mke2fs', '/usr/bin/mcopy', '/usr/sbin/mkfs.ext4']);
  });
});
