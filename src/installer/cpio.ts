// A deterministic cpio "newc" writer: the initramfs format the Linux kernel unpacks. Entries are
// written sorted by path, owned by root, with one fixed mtime and inode numbers given in order, so
// the same tree always gives the same bytes whatever the host, umask or clock. Pure: no I/O.

import { KilnError } from '../util/errors.js';

export type CpioEntry =
  | { path: string; type: 'dir'; mode: number }
  | { path: string; type: 'file'; mode: number; data: Buffer }
  | { path: string; type: 'symlink'; target: string };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const TRAILER = 'TRAILER!!!';

export class CpioError extends KilnError {}

/** Archive paths are relative (`bin/sh`), normalised, never leaving the archive root. */
export function normalisePath(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.length === 0) throw new CpioError(`empty path ${JSON.stringify(p)}`);
  if (parts.includes('..')) throw new CpioError(`path leaves the archive: ${p}`);
  if (parts.some((s) => s.includes('\0'))) throw new CpioError(`NUL in path ${JSON.stringify(p)}`);
  return parts.join('/');
}

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new CpioError(`value ${n} does not fit a newc field`);
  return n.toString(16).padStart(8, '0').toUpperCase();
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function record(ino: number, mode: number, nlink: number, mtime: number, name: string, data: Buffer): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const header =
    '070701' +
    hex8(ino) +
    hex8(mode) +
    hex8(0) + // uid
    hex8(0) + // gid
    hex8(nlink) +
    hex8(mtime) +
    hex8(data.length) +
    hex8(0) + // devmajor
    hex8(0) + // devminor
    hex8(0) + // rdevmajor
    hex8(0) + // rdevminor
    hex8(nameBytes.length) +
    hex8(0); // check (unused by newc)
  const head = Buffer.from(header, 'ascii');
  return Buffer.concat([head, nameBytes, Buffer.alloc(pad4(head.length + nameBytes.length)), data, Buffer.alloc(pad4(data.length))]);
}

/**
 * Writes the archive. Parent directories a path needs but the caller did not list are added
 * (mode 0755) so the kernel never has to invent them; duplicate paths are an error.
 */
export function writeCpio(entries: readonly CpioEntry[], mtime: number): Buffer {
  const byPath = new Map<string, CpioEntry>();
  for (const e of entries) {
    const path = normalisePath(e.path);
    if (byPath.has(path)) throw new CpioError(`duplicate path ${path}`);
    byPath.set(path, { ...e, path });
  }
  for (const path of [...byPath.keys()]) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const existing = byPath.get(dir);
      if (!existing) byPath.set(dir, { path: dir, type: 'dir', mode: 0o755 });
      else if (existing.type !== 'dir') throw new CpioError(`${dir} is needed as a directory for ${path}`);
    }
  }
  // Byte order, not locale order: the same on every host.
  const sorted = [...byPath.values()].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  const out: Buffer[] = [];
  let ino = 1;
  for (const e of sorted) {
    if (e.type === 'dir') out.push(record(ino++, S_IFDIR | (e.mode & 0o7777), 2, mtime, e.path, Buffer.alloc(0)));
    else if (e.type === 'file') out.push(record(ino++, S_IFREG | (e.mode & 0o7777), 1, mtime, e.path, e.data));
    else out.push(record(ino++, S_IFLNK | 0o777, 1, mtime, e.path, Buffer.from(e.target, 'utf8')));
  }
  out.push(record(0, 0, 1, 0, TRAILER, Buffer.alloc(0)));
  return Buffer.concat(out);
}

export interface ParsedCpioEntry {
  path: string;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  data: Buffer;
}

/** Reads a newc archive back (for tests and for `kiln diff`-style inspection). */
export function readCpio(buf: Buffer): ParsedCpioEntry[] {
  return readCpioAt(buf, 0).entries;
}

/** Reads one newc archive starting at `start`; `end` is just past its trailer's padding. */
export function readCpioAt(buf: Buffer, start: number): { entries: ParsedCpioEntry[]; end: number } {
  const out: ParsedCpioEntry[] = [];
  let off = start;
  for (;;) {
    if (off + 110 > buf.length) throw new CpioError(`truncated header at ${off}`);
    const h = buf.toString('ascii', off, off + 110);
    if (!h.startsWith('070701')) throw new CpioError(`bad magic at ${off}`);
    const field = (i: number): number => Number.parseInt(h.slice(6 + i * 8, 14 + i * 8), 16);
    const namesize = field(11);
    const filesize = field(6);
    const nameStart = off + 110;
    const path = buf.toString('utf8', nameStart, nameStart + namesize - 1);
    const dataStart = nameStart + namesize + pad4(110 + namesize);
    if (dataStart + filesize > buf.length) throw new CpioError(`truncated data of ${path}`);
    const data = buf.subarray(dataStart, dataStart + filesize);
    off = dataStart + filesize + pad4(filesize);
    if (path === TRAILER) return { entries: out, end: off };
    out.push({ path, ino: field(0), mode: field(1), uid: field(2), gid: field(3), nlink: field(4), mtime: field(5), data });
  }
}
