import { stat } from 'node:fs/promises';

/**
 * What the stage cache remembers about an output file it wrote, so a later build can trust it
 * without reading it again (re-hashing a 600 MB rootfs tar cost ~2 s on every build).
 *
 * Trust model: the cache hashes every output once, when it stores it, and records this stamp. A
 * matching stamp later means the path still names the same inode and nothing wrote to it through
 * the filesystem since: any write moves mtime and ctime, ctime cannot be set back from user space,
 * and replacing the file changes the inode. It does not guard against someone with write access to
 * the cache who also edits entry.json (they could equally rewrite the hash), nor against corruption
 * below the filesystem; a stamp that differs (a copied or restored cache, a touched file) makes the
 * cache fall back to hashing the file and drop the entry if the bytes changed.
 */
export interface FileStamp {
  size: number;
  ino: string;
  mtimeNs: string;
  ctimeNs: string;
}

export async function stampOf(path: string): Promise<FileStamp> {
  const st = await stat(path, { bigint: true });
  return { size: Number(st.size), ino: String(st.ino), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs) };
}

export function sameStamp(a: FileStamp | undefined, b: FileStamp): boolean {
  return !!a && a.size === b.size && a.ino === b.ino && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}
