import { mkdtemp, rename, rm, mkdir, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

/**
 * Runs `fill` against a fresh temp directory beside `finalDir` and renames it into place only when
 * `fill` succeeds, so a failed or interrupted run never leaves a partial output behind.
 */
export async function writeDirAtomically<T>(finalDir: string, fill: (tmpDir: string) => Promise<T>): Promise<T> {
  await mkdir(dirname(finalDir), { recursive: true });
  const tmp = await mkdtemp(join(dirname(finalDir), `.${basename(finalDir)}.tmp-`));
  try {
    const result = await fill(tmp);
    await rm(finalDir, { recursive: true, force: true });
    await rename(tmp, finalDir);
    return result;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

export async function writeFileAtomically(path: string, data: string | Buffer, mode?: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
}
