import { describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { extract } from 'tar-stream';
import { overlayEntries, writeOverlayTar } from '../../../src/builder/stages/overlay.js';
import { overlayFor } from '../../../src/builder/stages/overlay-files.js';
import { loadSpec } from '../../../src/spec/load.js';
import { tempDir } from '../../helpers/tmp.js';

async function readTar(
  file: string,
): Promise<{ name: string; type: string; mode: number; mtime: number; uid: number; body: string; linkname?: string | null }[]> {
  const out: { name: string; type: string; mode: number; mtime: number; uid: number; body: string; linkname?: string | null }[] = [];
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(Buffer.from(c as Uint8Array)));
      stream.on('end', () => {
        out.push({
          name: h.name,
          type: h.type ?? 'file',
          mode: h.mode ?? 0,
          mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000),
          uid: h.uid ?? -1,
          body: Buffer.concat(chunks).toString(),
          linkname: h.linkname,
        });
        next();
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(await readFile(file));
  await done;
  return out;
}

describe('overlay', () => {
  it('orders entries and adds parent directories whatever the input order', () => {
    const a = overlayEntries({
      files: [
        { path: '/b/c/f', mode: 0o644, content: 'x' },
        { path: '/a/g', mode: 0o600, content: 'y' },
      ],
      blobs: [],
      symlinks: [],
      dirs: [],
    });
    expect(a.map((e) => e.path)).toEqual(['/a', '/a/g', '/b', '/b/c', '/b/c/f']);
    const b = overlayEntries({
      files: [
        { path: '/a/g', mode: 0o600, content: 'y' },
        { path: '/b/c/f', mode: 0o644, content: 'x' },
      ],
      blobs: [],
      symlinks: [],
      dirs: [],
    });
    expect(b).toEqual(a);
  });

  it('refuses the same path twice', () => {
    expect(() =>
      overlayEntries({
        files: [
          { path: '/x', mode: 0o644, content: '' },
          { path: '/x', mode: 0o644, content: '' },
        ],
        blobs: [],
        symlinks: [],
        dirs: [],
      }),
    ).toThrow(/twice/);
  });

  it('writes identical bytes twice, root-owned, with SOURCE_DATE_EPOCH mtimes', async () => {
    const d = tempDir('overlay');
    await writeFile(join(d, 'blob'), 'artifact-bytes');
    const input = {
      files: [{ path: '/etc/x.conf', mode: 0o600, content: 'secret=none\n' }],
      blobs: [{ path: '/usr/local/bin/tool', mode: 0o755, source: join(d, 'blob') }],
      symlinks: [{ path: '/etc/systemd/system/multi-user.target.wants/x.service', target: '/etc/systemd/system/x.service' }],
      dirs: ['/boot/firmware'],
      mtime: 1700000000,
    };
    await writeOverlayTar(input, join(d, '1.tar'));
    await writeOverlayTar(input, join(d, '2.tar'));
    expect(await readFile(join(d, '1.tar'))).toEqual(await readFile(join(d, '2.tar')));
    const entries = await readTar(join(d, '1.tar'));
    expect(entries.every((e) => e.uid === 0 && e.mtime === 1700000000)).toBe(true);
    expect(entries.find((e) => e.name === 'usr/local/bin/tool')).toMatchObject({ mode: 0o755, body: 'artifact-bytes' });
    expect(entries.find((e) => e.name === 'etc/x.conf')?.mode).toBe(0o600);
    expect(entries.find((e) => e.name.endsWith('x.service'))).toMatchObject({ type: 'symlink', linkname: '/etc/systemd/system/x.service' });
  });

  it('carries the k3s units and first-boot path, and no per-node values', async () => {
    const { spec } = await loadSpec('images/pi-k3s.yaml');
    const ov = overlayFor(spec, 'deadbeef');
    const byPath = new Map(ov.files.map((f) => [f.path, String(f.content)]));
    expect(byPath.get('/etc/fstab')).toMatch(/PARTUUID=deadbeef-02\t\/\t/);
    expect(byPath.get('/etc/systemd/system/k3s.service')).toMatch(/ExecStart=\/usr\/local\/bin\/k3s server/);
    expect(byPath.get('/etc/systemd/system/k3s-agent.service')).toMatch(/ExecStart=\/usr\/local\/bin\/k3s agent/);
    expect(byPath.get('/usr/local/lib/kiln/firstboot')).toMatch(/KILN_ROLE/);
    const all = [...byPath.values()].join('\n');
    expect(all).not.toMatch(/K10[0-9a-f]{20,}|BEGIN [A-Z ]*PRIVATE KEY|token:\s*\S/);
    expect(ov.symlinks.map((s) => s.path)).toContain('/etc/systemd/system/cloud-init.target.wants/kiln-firstboot.service');
  });
});
