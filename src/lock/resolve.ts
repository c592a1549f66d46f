import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageSpec } from '../spec/schema.js';
import { run } from '../util/exec.js';
import { hashOf } from '../util/hash.js';
import { essentialPackages, indexByFilename, parsePrintUris, parseStanzas, type Stanza } from './parse.js';
import type { Lock, LockedPackage } from './lockfile.js';

export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/**
 * A private apt configuration rooted in the cache: it never reads or writes the host's apt state,
 * and the Release file is verified against the Debian archive keyring (Signed-By).
 */
export async function aptEnvironment(cacheRoot: string, debian: ImageSpec['debian'], keyring = DEBIAN_KEYRING) {
  const dir = join(cacheRoot, 'apt', hashOf({ debian, keyring }).slice(0, 16));
  for (const d of ['lists/partial', 'archives/partial', 'sources', 'parts', 'prefs']) await mkdir(join(dir, d), { recursive: true });
  await writeFile(join(dir, 'status'), '');
  await writeFile(
    join(dir, 'sources', 'kiln.sources'),
    [
      'Types: deb',
      `URIs: ${debian.mirror}`,
      `Suites: ${debian.suite}`,
      `Components: ${debian.components.join(' ')}`,
      `Architectures: ${debian.architecture}`,
      `Signed-By: ${keyring}`,
      '',
    ].join('\n'),
  );
  const opts = [
    ['APT::Architecture', debian.architecture],
    ['APT::Architectures', debian.architecture],
    ['APT::Install-Recommends', 'false'],
    ['APT::Install-Suggests', 'false'],
    ['Dir::Etc::main', '/dev/null'],
    ['Dir::Etc::Parts', join(dir, 'parts')],
    ['Dir::Etc::SourceList', '/dev/null'],
    ['Dir::Etc::SourceParts', join(dir, 'sources')],
    ['Dir::Etc::Preferences', '/dev/null'],
    ['Dir::Etc::PreferencesParts', join(dir, 'prefs')],
    ['Dir::State', dir],
    ['Dir::State::Lists', join(dir, 'lists')],
    ['Dir::State::status', join(dir, 'status')],
    ['Dir::Cache', dir],
    ['Dir::Cache::archives', join(dir, 'archives')],
    ['Dir::Cache::pkgcache', ''],
    ['Dir::Cache::srcpkgcache', ''],
    ['Debug::NoLocking', 'true'],
    ['Acquire::Languages', 'none'],
    // kiln reads the Packages indexes itself; keep them uncompressed on disk.
    ['Acquire::GzipIndexes', 'false'],
  ].flatMap(([k, v]) => ['-o', `${k}=${v}`]);
  return { dir, opts, env: { APT_CONFIG: '/dev/null', LC_ALL: 'C.UTF-8' } };
}

async function readIndexes(listsDir: string): Promise<{ stanzas: Stanza[]; releaseDate: string }> {
  const names = await readdir(listsDir);
  const stanzas: Stanza[] = [];
  for (const n of names.filter((n) => n.endsWith('_Packages'))) stanzas.push(...parseStanzas(await readFile(join(listsDir, n), 'utf8')));
  const rel = names.find((n) => n.endsWith('_InRelease'));
  const relText = rel ? await readFile(join(listsDir, rel), 'utf8') : '';
  const releaseDate = /^Date: (.+)$/m.exec(relText)?.[1] ?? 'unknown';
  if (stanzas.length === 0) throw new Error(`apt update fetched no Packages index into ${listsDir}`);
  return { stanzas, releaseDate };
}

export interface ResolveInput {
  specName: string;
  spec: ImageSpec;
  packagesHash: string;
  cacheRoot: string;
  keyring?: string;
}

/**
 * Resolves the full closure mmdebstrap will install (Essential:yes + apt + the spec's packages) with
 * apt's own solver against verified indexes, and names every .deb by name, version, arch and sha256.
 */
export async function resolveLock(input: ResolveInput, onStep: (msg: string) => void = () => {}): Promise<Lock> {
  const { spec } = input;
  const apt = await aptEnvironment(input.cacheRoot, spec.debian, input.keyring);
  onStep(`apt update (${spec.debian.mirror} ${spec.debian.suite}, Release verified with ${input.keyring ?? DEBIAN_KEYRING})`);
  await run('apt-get', [...apt.opts, '-q', 'update'], { env: apt.env });
  const { stanzas, releaseDate } = await readIndexes(join(apt.dir, 'lists'));
  const essentials = essentialPackages(stanzas, spec.debian.architecture);
  const wanted = [...new Set([...essentials, 'apt', ...spec.packages])].sort();
  onStep(`resolving ${wanted.length} requested packages (${essentials.length} Essential:yes + apt + spec)`);
  const r = await run('apt-get', [...apt.opts, '-q', '-y', '--print-uris', 'install', ...wanted], { env: apt.env });
  const byFile = indexByFilename(stanzas);
  const mirror = spec.debian.mirror.replace(/\/+$/, '');
  const locked = (text: string): LockedPackage[] => parsePrintUris(text).map((u) => {
    // apt percent-encodes the pool path (+ as %2b, : as %3a); the index has it plain.
    const filename = u.url.startsWith(mirror + '/') ? decodeURIComponent(u.url.slice(mirror.length + 1)) : '';
    const st = byFile.get(filename);
    if (!st?.Package || !st.Version || !st.Architecture) throw new Error(`apt chose ${u.url}, which is not in the verified index`);
    if (!st.SHA256 || !/^[0-9a-f]{64}$/.test(st.SHA256)) throw new Error(`${st.Package}: the index has no SHA256 for it`);
    if (Number(st.Size) !== u.size) throw new Error(`${st.Package}: apt and the index disagree on its size`);
    return { name: st.Package, version: st.Version, arch: st.Architecture, sha256: st.SHA256, size: u.size, filename };
  });
  const packages = locked(r.stdout);
  let installerPackages: LockedPackage[] | undefined;
  if (spec.installer) {
    // `download` names exactly these packages, no dependencies: they are unpacked, not installed.
    onStep(`locking installer packages: ${spec.installer.packages.join(', ')}`);
    const d = await run('apt-get', [...apt.opts, '-q', '--print-uris', 'download', ...spec.installer.packages], { env: apt.env });
    installerPackages = locked(d.stdout);
  }
  return {
    lockVersion: 1,
    spec: input.specName,
    packagesHash: input.packagesHash,
    mirror,
    suite: spec.debian.suite,
    architecture: spec.debian.architecture,
    releaseDate,
    packages,
    ...(installerPackages ? { installerPackages } : {}),
  };
}
