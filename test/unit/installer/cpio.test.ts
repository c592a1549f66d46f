import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CpioError, readCpio, writeCpio, type CpioEntry } from '../../../src/installer/cpio.js';
import { must } from '../../helpers/must.js';
import { tempDir } from '../../helpers/tmp.js';

const entries: CpioEntry[] = [
  { path: 'init', type: 'file', mode: 0o755, data: Buffer.from('#!/bin/sh\necho hi\n') },
  { path: 'bin/sh', type: 'symlink', target: 'busybox' },
  { path: 'bin/busybox', type: 'file', mode: 0o755, data: Buffer.alloc(4099, 7) },
  { path: 'lib/modules/6.12/kernel/a.ko', type: 'file', mode: 0o644, data: Buffer.from('x') },
  { path: 'dev', type: 'dir', mode: 0o755 },
];

describe('cpio newc writer', () => {
  it('is deterministic whatever the input order', () => {
    const a = writeCpio(entries, 1764115200);
    const b = writeCpio([...entries].reverse(), 1764115200);
    expect(a.equals(b)).toBe(true);
    expect(a.length % 4).toBe(0);
  });
  it('writes sorted entries, root-owned, one mtime, inodes in order, parents added', () => {
    const got = readCpio(writeCpio(entries, 1764115200));
    expect(got.map((e) => e.path)).toEqual([
      'bin',
      'bin/busybox',
      'bin/sh',
      'dev',
      'init',
      'lib',
      'lib/modules',
      'lib/modules/6.12',
      'lib/modules/6.12/kernel',
      'lib/modules/6.12/kernel/a.ko',
    ]);
    expect(got.map((e) => e.ino)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(got.every((e) => e.uid === 0 && e.gid === 0 && e.mtime === 1764115200)).toBe(true);
    const byPath = new Map(got.map((e) => [e.path, e]));
    const entry = (path: string) => must(byPath.get(path), `cpio entry ${path}`);
    const sh = entry('bin/sh');
    expect(sh.mode).toBe(0o120777);
    expect(sh.data.toString()).toBe('busybox');
    expect(entry('bin/busybox').data.equals(Buffer.alloc(4099, 7))).toBe(true);
    expect(entry('init').mode).toBe(0o100755);
    expect(entry('lib').mode).toBe(0o040755);
  });
  it('refuses paths that leave the archive, duplicates and files used as directories', () => {
    expect(() => writeCpio([{ path: '../etc/passwd', type: 'dir', mode: 0o755 }], 0)).toThrow(CpioError);
    expect(() => writeCpio([{ path: '', type: 'dir', mode: 0o755 }], 0)).toThrow(CpioError);
    expect(() =>
      writeCpio(
        [
          { path: 'a', type: 'dir', mode: 0o755 },
          { path: '/a/', type: 'dir', mode: 0o755 },
        ],
        0,
      ),
    ).toThrow(/duplicate/);
    expect(() =>
      writeCpio(
        [
          { path: 'a', type: 'file', mode: 0o644, data: Buffer.alloc(0) },
          { path: 'a/b', type: 'file', mode: 0o644, data: Buffer.alloc(0) },
        ],
        0,
      ),
    ).toThrow(/needed as a directory/);
  });
  it('is read back by busybox cpio (an independent newc reader)', () => {
    const dir = tempDir('cpio');
    execFileSync('busybox', ['cpio', '-i', '-d', '-m'], { cwd: dir, input: writeCpio(entries, 1764115200) });
    expect(readFileSync(join(dir, 'init'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
    expect(readlinkSync(join(dir, 'bin/sh'))).toBe('busybox');
    expect(statSync(join(dir, 'bin/busybox')).size).toBe(4099);
    expect(statSync(join(dir, 'init')).mtimeMs).toBe(1764115200 * 1000);
  });
});
