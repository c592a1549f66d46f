import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suitesOf, type ImageSpec } from '../spec/schema.js';
import { run } from '../util/exec.js';
import { hashOf } from '../util/hash.js';
import { essentialPackages, indexByFilename, parsePrintUris, parseStanzas, type Stanza } from './parse.js';
import type { Lock, LockedPackage } from './lockfile.js';
import { IMAGE_TOOL_PACKAGES, NATIVE_TOOL_PACKAGES, sourceVersion } from '../builder/native/tools.js';
import { KilnError } from '../util/errors.js';

export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/**
 * A private apt configuration rooted in the cache: it never reads or writes the host's apt state,
 * and the Release file is verified against the Debian archive keyring (Signed-By).
 */
export async function aptEnvironment(
  cacheRoot: string,
  debian: Omit<ImageSpec['debian'], 'architecture'> & { architecture: string },
  keyring = DEBIAN_KEYRING,
) {
  const dir = join(cacheRoot, 'apt', hashOf({ debian, keyring }).slice(0, 16));
  for (const d of ['lists/partial', 'archives/partial', 'sources', 'parts', 'prefs']) await mkdir(join(dir, d), { recursive: true });
  await writeFile(join(dir, 'status'), '');
  await writeFile(
    join(dir, 'sources', 'kiln.sources'),
    [
      'Types: deb',
      `URIs: ${debian.mirror}`,
      `Suites: ${suitesOf(debian).join(' ')}`,
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

/** Names each .deb apt printed by the verified index stanza for its pool path. */
function lockedFrom(byFile: Map<string, Stanza>, mirror: string): (printed: string) => LockedPackage[] {
  return (text) =>
    parsePrintUris(text).map((u) => {
      // apt percent-encodes the pool path (+ as %2b, : as %3a); the index has it plain.
      const filename = u.url.startsWith(`${mirror}/`) ? decodeURIComponent(u.url.slice(mirror.length + 1)) : '';
      const st = byFile.get(filename);
      if (!st?.Package || !st.Version || !st.Architecture) throw new KilnError(`apt chose ${u.url}, which is not in the verified index`);
      if (!st.SHA256 || !/^[0-9a-f]{64}$/.test(st.SHA256)) throw new KilnError(`${st.Package}: the index has no SHA256 for it`);
      if (Number(st.Size) !== u.size) throw new KilnError(`${st.Package}: apt and the index disagree on its size`);
      return { name: st.Package, version: st.Version, arch: st.Architecture, sha256: st.SHA256, size: u.size, filename };
    });
}

async function readIndexes(listsDir: string, suite: string): Promise<{ stanzas: Stanza[]; releaseDate: string }> {
  const names = await readdir(listsDir);
  const stanzas: Stanza[] = [];
  for (const n of names.filter((n) => n.endsWith('_Packages'))) stanzas.push(...parseStanzas(await readFile(join(listsDir, n), 'utf8')));
  // the primary suite's date: extra suites (backports) move on their own schedule
  const rel = names.find((n) => n.endsWith(`_dists_${suite}_InRelease`));
  const relText = rel ? await readFile(join(listsDir, rel), 'utf8') : '';
  const releaseDate = /^Date: (.+)$/m.exec(relText)?.[1] ?? 'unknown';
  if (stanzas.length === 0) throw new KilnError(`apt update fetched no Packages index into ${listsDir}`);
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
  onStep(`apt update (${spec.debian.mirror} ${suitesOf(spec.debian).join(' ')}, Release verified with ${input.keyring ?? DEBIAN_KEYRING})`);
  await run('apt-get', [...apt.opts, '-q', 'update'], { env: apt.env });
  const { stanzas, releaseDate } = await readIndexes(join(apt.dir, 'lists'), spec.debian.suite);
  const essentials = essentialPackages(stanzas, spec.debian.architecture);
  const wanted = [...new Set([...essentials, 'apt', ...spec.packages])].sort();
  onStep(`resolving ${wanted.length} requested packages (${essentials.length} Essential:yes + apt + spec)`);
  const r = await run('apt-get', [...apt.opts, '-q', '-y', '--print-uris', 'install', ...wanted], { env: apt.env });
  const mirror = spec.debian.mirror.replace(/\/+$/, '');
  const locked = lockedFrom(indexByFilename(stanzas), mirror);
  const packages = locked(r.stdout);
  let installerPackages: LockedPackage[] | undefined;
  if (spec.installer) {
    // `download` names exactly these packages, no dependencies: they are unpacked, not installed.
    onStep(`locking installer packages: ${spec.installer.packages.join(', ')}`);
    const d = await run('apt-get', [...apt.opts, '-q', '--print-uris', 'download', ...spec.installer.packages], { env: apt.env });
    installerPackages = locked(d.stdout);
  }
  const nativeTools = await resolveNativeTools(input, packages, mirror, onStep);
  const imageTools = await resolveImageTools(input, packages, mirror, onStep);
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
    ...(nativeTools ? { nativeTools } : {}),
    imageTools,
  };
}

/** The build host's architecture as Debian names it; the native tools and the image tools are for this one. */
export function hostDebianArch(): string {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };
  const a = arch[process.arch];
  if (!a) throw new KilnError(`kiln knows no Debian architecture for a ${process.arch} build host (its image tools run on amd64 and arm64)`);
  return a;
}

/**
 * Locks the amd64 twins of the image's build tools (src/builder/native/tools.ts) with their own
 * closure, from the same mirror and archive view as the image. Each twin must be the image's own
 * source version (a binNMU suffix may differ): a twin of another version could configure the image
 * differently from its own tools. Skipped when the host is the image's architecture.
 */
async function resolveNativeTools(
  input: ResolveInput,
  image: readonly LockedPackage[],
  mirror: string,
  onStep: (msg: string) => void,
): Promise<Lock['nativeTools']> {
  const architecture = hostDebianArch();
  if (architecture === input.spec.debian.architecture) return undefined;
  const inImage = new Map(image.map((p) => [p.name, p.version]));
  const names = NATIVE_TOOL_PACKAGES.filter((n) => inImage.has(n));
  if (names.length === 0) return undefined;
  onStep(`locking ${names.length} native build tools for ${architecture} (the image's versions, their own closure)`);
  const packages = await resolveHostClosure(input, architecture, names, image, mirror, 'build tools');
  return { architecture, packages };
}

/**
 * Locks the image tools (src/builder/native/tools.ts: tar, e2fsprogs, dosfstools, mtools, zstd) for
 * the build host's architecture, with their closure, from the image's suite. Always, whatever the
 * host: on an arm64 host they are arm64 packages (the image's own, where the image has them).
 */
export async function resolveImageTools(
  input: ResolveInput,
  image: readonly LockedPackage[],
  mirror: string,
  onStep: (msg: string) => void,
): Promise<NonNullable<Lock['imageTools']>> {
  const architecture = hostDebianArch();
  onStep(`locking the image tools for ${architecture}: ${IMAGE_TOOL_PACKAGES.join(', ')} (the image suite's versions, their own closure)`);
  const packages = await resolveHostClosure(input, architecture, IMAGE_TOOL_PACKAGES, image, mirror, 'image tools');
  return { architecture, packages };
}

/**
 * `names` and their closure for `architecture` from the spec's mirror and suites. Every package the
 * image also has must be the image's source version (a binNMU suffix may differ): the two index
 * reads are moments apart, so a skew means the archive changed between them.
 */
async function resolveHostClosure(
  input: ResolveInput,
  architecture: string,
  names: readonly string[],
  image: readonly LockedPackage[],
  mirror: string,
  what: string,
): Promise<LockedPackage[]> {
  const inImage = new Map(image.map((p) => [p.name, p.version]));
  const apt = await aptEnvironment(input.cacheRoot, { ...input.spec.debian, architecture }, input.keyring);
  await run('apt-get', [...apt.opts, '-q', 'update'], { env: apt.env });
  const r = await run('apt-get', [...apt.opts, '-q', '-y', '--print-uris', 'install', ...names], { env: apt.env });
  const packages = lockedFrom(indexByFilename((await readIndexes(join(apt.dir, 'lists'), input.spec.debian.suite)).stanzas), mirror)(r.stdout);
  const skew = packages.filter((p) => {
    const imageVersion = inImage.get(p.name);
    return imageVersion !== undefined && sourceVersion(p.version) !== sourceVersion(imageVersion);
  });
  if (skew.length) {
    throw new KilnError(
      `the mirror's ${architecture} ${what} are not the image's versions: ${skew.map((p) => `${p.name} ${p.version} (image: ${inImage.get(p.name)})`).join(', ')}; ` +
        'the archive changed between the two index reads: run kiln lock again',
    );
  }
  return packages;
}
