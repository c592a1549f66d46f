import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { diffSources } from '../../../src/diff/diff.js';
import type { DiffReport } from '../../../src/diff/model.js';
import type { EntryChange } from '../../../src/disk/tree.js';
import { resolveSource } from '../../../src/manifest/source.js';
import { baseSpec, buildFixture, type FixtureSpec } from '../../helpers/images/fs-image.js';
import { tempDir } from '../../helpers/tmp.js';

// One root-filesystem difference per pair; each must land in the right layer and nowhere else.
describe('kiln diff: ext4 root partition', () => {
  let work: string;
  let base: string;
  let n = 0;
  beforeAll(async () => {
    work = tempDir('diff-ext4');
    base = (await buildFixture(join(work, 'base'), baseSpec())).img;
  });

  async function diffWith(change: (s: FixtureSpec) => void): Promise<DiffReport> {
    const spec = baseSpec();
    change(spec);
    const other = await buildFixture(join(work, `v${n++}`), spec);
    return diffSources(await resolveSource(base), await resolveSource(other.img));
  }

  const differing = (r: DiffReport) => r.layers.filter((l) => l.status === 'different').map((l) => l.id);
  const files = (r: DiffReport): EntryChange[] => r.layers.find((l) => l.id === 'partition2:files')?.entries ?? [];

  it('a text file content change: files layer, with a unified diff', async () => {
    const r = await diffWith((s) => {
      s.root['etc/motd'] = { content: 'line one\nline two\nline THREE\nline four\nline five\n' };
    });
    expect(r.identical).toBe(false);
    expect(differing(r)).toEqual(['image', 'partition2', 'partition2:files']);
    const [e] = files(r);
    expect(e?.name).toBe('/etc/motd');
    expect(e?.fields.map((f) => f.field)).toEqual(['sha256']);
    expect(e?.unifiedDiff).toContain('-line three\n+line THREE\n');
    const img = r.layers[0];
    expect(img?.fields.find((f) => f.field === 'firstDifference')?.a).toMatch(/partition 2/);
  });

  it('a binary change: sizes and hashes, no text diff', async () => {
    const r = await diffWith((s) => {
      s.root['usr/bin/tool'] = { content: '\u007fELF\u0000\u0000fixture-binary-v2\u0000', mode: 0o755 };
    });
    const [e] = files(r);
    expect(e?.name).toBe('/usr/bin/tool');
    expect(e?.fields.map((f) => f.field)).toEqual(['size', 'sha256']);
    expect(e?.unifiedDiff).toBeUndefined();
    expect(e?.note).toMatch(/binary content differs \(21 → 24 bytes\)/);
  });

  it('a mode change', async () => {
    const r = await diffWith((s) => {
      s.root['etc/secret'] = { content: 'x\n', mode: 0o640 };
    });
    expect(differing(r)).toEqual(['image', 'partition2', 'partition2:files']);
    expect(files(r)).toEqual([{ name: '/etc/secret', change: 'changed', kind: 'file', fields: [{ field: 'mode', a: '0600', b: '0640' }] }]);
  });

  // The fixture (like kiln build) clamps atime with mtime, so both show.
  it('an mtime change', async () => {
    const r = await diffWith((s) => {
      s.root['etc/hostname'] = { content: 'kiln\n', mtime: 1700000100 };
    });
    expect(files(r)).toEqual([
      {
        name: '/etc/hostname',
        change: 'changed',
        kind: 'file',
        fields: [
          { field: 'mtime', a: 1700000000, b: 1700000100 },
          { field: 'atime', a: 1700000000, b: 1700000100 },
        ],
      },
    ]);
  });

  it('a symlink target change', async () => {
    const r = await diffWith((s) => {
      s.root['usr/bin/sh'] = { symlink: 'tool2' };
    });
    expect(files(r)).toEqual([
      {
        name: '/usr/bin/sh',
        change: 'changed',
        kind: 'symlink',
        fields: [
          { field: 'size', a: 4, b: 5 },
          { field: 'target', a: 'tool', b: 'tool2' },
        ],
      },
    ]);
  });

  it('the ext4 hash seed: filesystem metadata layer, files unchanged', async () => {
    const r = await diffWith((s) => {
      s.hashSeed = '66666666-7777-4888-9999-bbbbbbbbbbbb';
    });
    expect(differing(r)).toEqual(['image', 'partition2', 'partition2:filesystem']);
    const fs = r.layers.find((l) => l.id === 'partition2:filesystem');
    expect(fs?.fields.find((f) => f.field === 'hashSeed')).toEqual({
      field: 'hashSeed',
      a: '66666666-7777-4888-9999-aaaaaaaaaaaa',
      b: '66666666-7777-4888-9999-bbbbbbbbbbbb',
    });
    expect(files(r)).toEqual([]);
  });
});
