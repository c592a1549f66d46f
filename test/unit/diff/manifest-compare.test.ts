import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../../src/manifest/schema.js';
import { compareManifests } from '../../../src/diff/manifest-compare.js';
import { must } from '../../helpers/must.js';

function manifest(): Manifest {
  return {
    manifestVersion: 1,
    kilnVersion: '0.1.0',
    name: 'pi',
    sourceDateEpoch: 1700000000,
    image: { file: 'pi.img', size: 1, sha256: 'i', zst: { file: 'pi.img.zst', size: 1, sha256: 'z' }, bmap: { file: 'pi.bmap', sha256: 'b', mappedBytes: 1 } },
    diskId: '4b494c4e',
    partitions: [],
    spec: { file: 'images/pi.yaml', sha256: 's', packagesHash: 'p' },
    lock: { file: 'images/pi.lock.json', sha256: 'l' },
    artifacts: [{ name: 'k3s', description: 'd', version: 'v1', url: 'u', sha256: 'k', size: 1, install: '/usr/local/bin/k3s' }],
    packages: [
      { name: 'bash', version: '5.2-1', arch: 'arm64', sha256: 'x' },
      { name: 'curl', version: '8.0', arch: 'arm64', sha256: 'y' },
    ],
    hostTools: { mke2fs: '1.47.0' },
    stages: { rootfs: 'r' },
    files: { boot: [], root: [] },
    extras: {},
  };
}

describe('compareManifests', () => {
  it('puts a package version change in the packages layer only', () => {
    const a = manifest();
    const b = manifest();
    b.packages = [{ name: 'bash', version: '5.2-2', arch: 'arm64', sha256: 'x2' }, ...a.packages.slice(1)];
    const layers = compareManifests(a, b);
    const diff = layers.filter((l) => l.status === 'different').map((l) => l.id);
    expect(diff).toEqual(['manifest:packages']);
    const pkgs = layers.find((l) => l.id === 'manifest:packages');
    expect(pkgs?.entries).toEqual([
      {
        name: 'bash:arm64',
        change: 'changed',
        kind: 'package',
        fields: [
          { field: 'version', a: '5.2-1', b: '5.2-2' },
          { field: 'sha256', a: 'x', b: 'x2' },
        ],
      },
    ]);
  });

  it('names lock, artifact and host tool differences in their own layers', () => {
    const a = manifest();
    const b = manifest();
    b.lock.sha256 = 'l2';
    b.artifacts = [{ ...must(a.artifacts[0], 'the artifact of the test manifest'), version: 'v2' }];
    b.hostTools = { mke2fs: '1.47.2', 'mkfs.fat': '4.2' };
    const byId = new Map(compareManifests(a, b).map((l) => [l.id, l]));
    expect(byId.get('manifest:inputs')?.fields).toEqual([{ field: 'lock.sha256', a: 'l', b: 'l2' }]);
    expect(byId.get('manifest:artifacts')?.entries[0]?.fields).toEqual([{ field: 'version', a: 'v1', b: 'v2' }]);
    expect(byId.get('manifest:host-tools')?.entries.map((e) => [e.name, e.change])).toEqual([
      ['mke2fs', 'changed'],
      ['mkfs.fat', 'added'],
    ]);
  });

  it('names the image tool that changed, by product and program', () => {
    const ref = (name: string, version: string) => ({ name, version, arch: 'amd64', sha256: `${name}-${version}` });
    const tools = (e2fs: string): Manifest['imageTools'] => ({
      architecture: 'amd64',
      madeBy: {
        root: [{ program: 'mke2fs', package: ref('e2fsprogs', e2fs), libraries: [ref('libc6', '2.41-12')] }],
        zst: [{ program: 'zstd', package: ref('zstd', '1.5.7'), libraries: [] }],
      },
      diskTable: 'kiln 0.1.0 (src/disk/mbr.ts; no partitioning tool)',
      packages: [ref('e2fsprogs', e2fs), ref('zstd', '1.5.7'), ref('libc6', '2.41-12')],
    });
    const a = { ...manifest(), imageTools: tools('1.47.2-3') };
    const b = { ...manifest(), imageTools: tools('1.47.3-1') };
    const layer = compareManifests(a, b).find((l) => l.id === 'manifest:image-tools');
    expect(layer?.status).toBe('different');
    expect(layer?.entries).toEqual([
      {
        name: 'root:mke2fs',
        change: 'changed',
        kind: 'image tool',
        fields: [
          { field: 'version', a: '1.47.2-3', b: '1.47.3-1' },
          { field: 'sha256', a: 'e2fsprogs-1.47.2-3', b: 'e2fsprogs-1.47.3-1' },
        ],
      },
    ]);
    // an old manifest (the host's tools, none recorded) against a new one: every row is added
    const old = compareManifests(manifest(), a).find((l) => l.id === 'manifest:image-tools');
    expect(old?.entries.map((e) => [e.name, e.change])).toEqual([
      ['disk table', 'added'],
      ['root:mke2fs', 'added'],
      ['zst:zstd', 'added'],
    ]);
  });
});
