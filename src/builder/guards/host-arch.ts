import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileEntry } from '../../manifest/schema.js';
import { readCpioAt, type ParsedCpioEntry } from '../../installer/cpio.js';
import { run } from '../../util/exec.js';
import type { ImageTools } from '../native/image-tools.js';
import { KilnError } from '../../util/errors.js';

// The native rootfs mode puts amd64 programs beside the arm64 tree while packages are configured.
// None of it may stay: a script that copied a native program, or a glob that caught a native
// library (seen: the initramfs udev hook's /usr/lib/*/libkmod.so.*), would ship a file no Pi can
// run. This guard runs on every build, in either mode, over the root tree and every initramfs.

/** ELF e_machine values of the build hosts kiln runs on; none belongs in an arm64 image. */
const HOST_MACHINES: ReadonlyMap<number, string> = new Map([
  [3, 'i386'],
  [62, 'x86-64'],
]);

/** Directories only the build host's architecture has. */
const HOST_PATHS: readonly RegExp[] = [/^\/\.kiln-native(\/|$)/, /^\/(usr\/)?lib64(\/|$)/, /(^|\/)(x86_64|i386|i686)-linux-gnu(\/|$)/];

export interface HostArtifact {
  where: string;
  what: string;
}

/** The machine an ELF header names, or undefined when `head` is not ELF. */
export function elfMachine(head: Buffer): number | undefined {
  if (head.length < 20 || head.readUInt32BE(0) !== 0x7f454c46) return undefined;
  return head[5] === 2 ? head.readUInt16BE(18) : head.readUInt16LE(18);
}

export function hostArchOf(head: Buffer): string | undefined {
  const m = elfMachine(head);
  return m === undefined ? undefined : HOST_MACHINES.get(m);
}

/** Collects a file's first bytes from the chunks of a read that happens anyway (root-fs's). */
export class ElfHead {
  private head = Buffer.alloc(0);

  push(chunk: Buffer): void {
    if (this.head.length < 20) this.head = Buffer.concat([this.head, chunk.subarray(0, 20 - this.head.length)]);
  }

  hostArch(): string | undefined {
    return hostArchOf(this.head);
  }
}

/** Paths in a file listing that only a build host's architecture would have. */
export function hostPaths(entries: readonly Pick<FileEntry, 'path'>[]): HostArtifact[] {
  return entries.filter((e) => HOST_PATHS.some((re) => re.test(e.path))).map((e) => ({ where: e.path, what: 'a build-host directory' }));
}

/**
 * The members of an initramfs that are host ELF or host directories. initramfs-tools writes an
 * uncompressed early archive and then the compressed main one; the kernel reads any sequence of
 * newc archives, plain or compressed, so every segment is read.
 */
export async function scanInitramfsForHostElf(file: string, label: string, tools?: ImageTools): Promise<HostArtifact[]> {
  return (await initramfsMembers(await readFile(file), label, tools)).flatMap((m) => {
    const arch = (m.mode & 0o170000) === 0o100000 ? hostArchOf(m.data.subarray(0, 20)) : undefined;
    const path = `/${m.path}`;
    const dir = HOST_PATHS.some((re) => re.test(path)) ? [{ where: `${label}:${path}`, what: 'a build-host directory' }] : [];
    return [...dir, ...(arch ? [{ where: `${label}:${path}`, what: `${arch} ELF` }] : [])];
  });
}

/** Every member of every archive segment of an initramfs image (zstd from `tools` when given). */
export async function initramfsMembers(buf: Buffer, label: string, tools?: ImageTools): Promise<ParsedCpioEntry[]> {
  const out: ParsedCpioEntry[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf[off] === 0) {
      off++; // padding between segments
      continue;
    }
    if (buf.toString('latin1', off, off + 6) === '070701') {
      const r = readCpioAt(buf, off);
      out.push(...r.entries);
      off = r.end;
      continue;
    }
    // a compressed segment runs to the end of the file
    out.push(...(await initramfsMembers(await decompress(buf.subarray(off), label, tools), label, tools)));
    break;
  }
  return out;
}

async function decompress(buf: Buffer, label: string, tools?: ImageTools): Promise<Buffer> {
  const tool =
    buf.readUInt32LE(0) === 0xfd2fb528 ? 'zstd' : buf[0] === 0x1f && buf[1] === 0x8b ? 'gzip' : buf.readUInt32BE(0) === 0xfd377a58 ? 'xz' : undefined;
  if (!tool) throw new KilnError(`${label}: not an initramfs kiln can read (a segment is neither newc nor zstd, gzip or xz compressed)`);
  if (tool === 'zstd' && tools) return (await tools.run('zstd', ['-dc'], { input: buf, binary: true })).stdoutBuffer;
  return (await run(tool, ['-dc'], { input: buf, binary: true })).stdoutBuffer;
}

/** The tree's boot initramfs files (initramfs-tools names them /boot/initrd.img-<version>). */
export async function treeInitramfsFiles(tree: string): Promise<string[]> {
  const names = await readdir(join(tree, 'boot')).catch(() => [] as string[]);
  return names
    .filter((n) => n.startsWith('initrd.img-'))
    .sort()
    .map((n) => `/boot/${n}`);
}
