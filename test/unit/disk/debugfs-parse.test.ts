import { describe, expect, it } from 'vitest';
import { openFailure, parseLsP, parseStat, parseSuperblock, splitCommandOutput } from '../../../src/disk/debugfs-parse.js';

// Captured from debugfs 1.47.0 on a mke2fs -d image.
const LS = `/12/040755/0/0/.//
/2/040755/0/0/..//
/13/100644/0/0/big/300000/
/14/120777/0/0/link/15/
/15/100755/1000/100/tool/8/
/0/000000/0/0//0/
`;

const STAT_FILE = `Inode: 13   Type: regular    Mode:  0644   Flags: 0x80000
Generation: 0    Version: 0x00000000:00000000
User:     0   Group:     0   Project:     0   Size: 300000
File ACL: 0
Links: 1   Blockcount: 590
Fragment:  Address: 0    Number: 0    Size: 0
 ctime: 0x6553f100:00000000 -- Tue Nov 14 22:13:20 2023
 atime: 0x6553f100:00000000 -- Tue Nov 14 22:13:20 2023
 mtime: 0x6553f100:0ee6b280 -- Tue Nov 14 22:13:20 2023
crtime: 0x6553f100:00000000 -- Tue Nov 14 22:13:20 2023
Size of extra inode fields: 32
Extended attributes:
  user.b (5) = "hello"
  security.capability (20) = 01 00 00 02 00 20 00 00 00 00 00 00 00 00 00 00 00 00 00 00 
Inode checksum: 0x1f869f42
EXTENTS:
(ETB0):1700, (0-255):2000-2255, (300-310[u]):3000-3010
`;

const STAT_LINK = `Inode: 14   Type: symlink    Mode:  0777   Flags: 0x0
User:     0   Group:     0   Project:     0   Size: 15
Links: 1   Blockcount: 0
Fragment:  Address: 0    Number: 0    Size: 0
 mtime: 0x6553f100:00000000 -- Tue Nov 14 22:13:20 2023
Fast link dest: "../etc/hostname"
`;

describe('debugfs output parsers', () => {
  it('reads ls -l -p lines, skipping . .. and empty slots', () => {
    expect(parseLsP(LS)).toEqual([
      { inode: 13, mode: 0o100644, uid: 0, gid: 0, name: 'big', size: 300000 },
      { inode: 14, mode: 0o120777, uid: 0, gid: 0, name: 'link', size: 15 },
      { inode: 15, mode: 0o100755, uid: 1000, gid: 100, name: 'tool', size: 8 },
    ]);
  });

  it('reads stat: size, times with nanoseconds, extents (skipping index blocks)', () => {
    const st = parseStat(STAT_FILE);
    expect(st.size).toBe(300000);
    expect(st.links).toBe(1);
    expect(st.flags).toBe('0x80000');
    expect(st.xattrs).toBe('security.capability=01 00 00 02 00 20 00 00 00 00 00 00 00 00 00 00 00 00 00 00\nuser.b="hello"');
    expect(st.ctime).toBe(1700000000);
    // 0x0ee6b280 >> 2 = 62500000 ns
    expect(st.mtime).toBe(1700000000.0625);
    expect(st.extents).toEqual([
      { logical: 0, physical: 2000, length: 256, uninit: false },
      { logical: 300, physical: 3000, length: 11, uninit: true },
    ]);
  });

  it('reads fast symlink targets', () => {
    const st = parseStat(STAT_LINK);
    expect(st.type).toBe('symlink');
    expect(st.fastLinkTarget).toBe('../etc/hostname');
    expect(st.extents).toEqual([]);
  });

  it('splits -f output per command and reads the superblock', () => {
    const out = splitCommandOutput(
      'debugfs: stats -h\nFilesystem volume name:   root\nFilesystem UUID:          1111\nDirectory Hash Seed:      6666\nBlock size:               4096\ndebugfs: ls -l -p <2>\n/2/040755/0/0/.//\n',
    );
    expect([...out.keys()]).toEqual(['stats -h', 'ls -l -p <2>']);
    expect(parseSuperblock(out.get('stats -h') ?? '')).toEqual({ label: 'root', uuid: '1111', hashSeed: '6666', blockSize: 4096 });
  });

  it('recognizes an unopenable filesystem', () => {
    expect(openFailure('debugfs 1.47.0 (5-Feb-2023)\ndebugfs: Bad magic number in super-block while trying to open x.img\n')).toMatch(/Bad magic/);
    expect(openFailure('debugfs 1.47.0 (5-Feb-2023)\n')).toBeUndefined();
  });
});
