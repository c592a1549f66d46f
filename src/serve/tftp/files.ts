import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { join, sep } from 'node:path';

// Opens a file the boot plan chose, refusing anything a symlink leads out of its served root.

export type Opened = { ok: true; fh: FileHandle; size: number } | { ok: false; code: 'notfound' | 'denied'; reason: string };

export async function openServed(root: string, rel: readonly string[]): Promise<Opened> {
  let real: string;
  try {
    const realRoot = await realpath(root);
    real = await realpath(join(realRoot, ...rel));
    // A symlink inside the boot dir must not lead out of it.
    if (!real.startsWith(realRoot + sep)) return { ok: false, code: 'denied', reason: 'path resolves outside the served root' };
  } catch {
    return { ok: false, code: 'notfound', reason: 'no such file' };
  }
  let fh: FileHandle;
  try {
    // O_NOFOLLOW: a symlink swapped in after the check above is refused, not followed.
    // O_NONBLOCK: opening a FIFO must not hang a thread-pool thread (regular files ignore it).
    fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return { ok: false, code: 'notfound', reason: 'no such file' };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      return { ok: false, code: 'notfound', reason: 'not a regular file' };
    }
    return { ok: true, fh, size: st.size };
  } catch {
    await fh.close().catch(() => undefined);
    return { ok: false, code: 'notfound', reason: 'no such file' };
  }
}
