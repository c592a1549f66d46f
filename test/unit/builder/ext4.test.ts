import { describe, expect, it } from 'vitest';
import { inodeTimeCommands } from '../../../src/builder/stages/ext4.js';
import type { FileEntry } from '../../../src/manifest/schema.js';

const e = (path: string, mtime: number): FileEntry => ({ path, type: 'file', mode: '0644', uid: 0, gid: 0, size: 0, mtime });

describe('ext4 inode time pinning', () => {
  it('sets every ctime to SOURCE_DATE_EPOCH and every atime to the clamped mtime', () => {
    const text = inodeTimeCommands([e('/etc', 100), e('/etc/a b', 50)], 200);
    expect(text.split('\n').filter(Boolean)).toEqual([
      'sif / ctime @200',
      'sif / atime @200',
      'sif "/etc" ctime @200',
      'sif "/etc" atime @100',
      'sif "/etc/a b" ctime @200',
      'sif "/etc/a b" atime @50',
    ]);
  });
  it('refuses a name debugfs cannot quote', () => {
    expect(() => inodeTimeCommands([e('/x"y', 1)], 2)).toThrow(/cannot quote/);
  });
});
