import { randomBytes } from 'node:crypto';
import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomically } from '../util/atomic.js';

// Secrets the service owns live in the state dir, mode 0600, and never reach a log line.

async function readOrCreate(path: string, make: () => string): Promise<string> {
  try {
    const st = await stat(path);
    if ((st.mode & 0o077) !== 0) await chmod(path, 0o600);
    const v = (await readFile(path, 'utf8')).trim();
    if (v.length > 0) return v;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const v = make();
  await writeFileAtomically(path, `${v}\n`, 0o600);
  return v;
}

/** Bearer token for state-changing API calls, generated on first start. */
export function apiToken(stateDir: string): Promise<string> {
  return readOrCreate(join(stateDir, 'api-token'), () => randomBytes(32).toString('hex'));
}

/** The cluster's k3s join token: the operator's if given, else generated once. */
export async function k3sToken(stateDir: string, given?: string): Promise<string> {
  if (given) {
    await writeFileAtomically(join(stateDir, 'k3s-token'), `${given}\n`, 0o600);
    return given;
  }
  return readOrCreate(join(stateDir, 'k3s-token'), () => `K10${randomBytes(24).toString('hex')}`);
}
