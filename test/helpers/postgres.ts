import { execa } from 'execa';
import { appendFileSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { run, tail } from '../../src/util/exec.js';
import { freeTcpPort } from './net.js';

// A real PostgreSQL for a test file: Debian's server binaries, a fresh cluster in a temp dir,
// listening on 127.0.0.1 only, with a password (scram) so URLs carry one the way an operator's do.
// The postmaster is this process's own child (no pg_ctl daemon), so kill() is a real kill -9 of it
// and a crashed test leaves no server behind (execa kills its children on exit). stop(), start(),
// restart() and kill() reuse the same data dir and port: the fault tests restart it mid-install.

const PG_ROOT = '/usr/lib/postgresql';
/** initdb refuses to run as root, and so does postgres: tests running as root run both as this user. */
const RUN_AS = { user: 'nobody', group: 'nogroup', uid: 65534, gid: 65534 } as const;
const READY = 'database system is ready to accept connections';
const START_TIMEOUT_MS = 20_000;

export interface PgServer {
  /** postgres://kiln:<password>@127.0.0.1:<port>/kiln */
  readonly url: string;
  /**
   * The same database over the server's Unix socket: a `kiln serve` inside a network namespace
   * reaches it there, where 127.0.0.1 is the namespace's own loopback.
   */
  readonly socketUrl: string;
  readonly port: number;
  readonly password: string;
  readonly dataDir: string;
  /** The directory of its Unix socket (auth trust): reaches it from any network namespace. */
  readonly socketDir: string;
  /**
   * A URL to a new empty database on this server (tests that need a schema of their own); with
   * `template`, a copy of that database (which nobody may be connected to): copying an already
   * migrated one is a few times faster than migrating each new one, for files that make many.
   */
  createDatabase(name: string, opts?: { template?: string }): Promise<string>;
  /** Fast shutdown (SIGINT: open transactions roll back), waiting for the postmaster to exit. */
  stop(): Promise<void>;
  /** Starts the postmaster again on the same data dir and port; resolves once it accepts connections. */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** kill -9 of the postmaster (a crash: the next start runs crash recovery). */
  kill(): Promise<void>;
  /** Stops the server and removes its directory (KILN_KEEP_TMP=1 keeps it). */
  destroy(): Promise<void>;
}

/** The newest PostgreSQL under /usr/lib/postgresql/<version>/bin with both initdb and postgres. */
export function postgresBin(root = PG_ROOT): string {
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const bin = versions.map((v) => join(root, v, 'bin')).find((b) => existsSync(join(b, 'initdb')) && existsSync(join(b, 'postgres')));
  if (!bin) {
    throw new Error(`PostgreSQL server is not installed: no ${root}/<version>/bin/initdb and postgres; bash scripts/setup-host.sh installs it`);
  }
  return bin;
}

const asRoot = userInfo().uid === 0;

/** The command line that runs `tool` as the unprivileged user when the tests run as root. */
function unprivileged(tool: string, args: readonly string[]): [string, string[]] {
  if (!asRoot) return [tool, [...args]];
  return ['setpriv', [`--reuid=${RUN_AS.user}`, `--regid=${RUN_AS.group}`, '--clear-groups', '--', tool, ...args]];
}

export interface PgOptions {
  /**
   * false: the server skips fsync, for files that never crash it and only need a real PostgreSQL's
   * SQL (the shared registry suite, export/import): creating a database per test then costs a copy
   * in memory instead of waiting on the disk. Default true: the fault tests rely on what the
   * server acknowledged surviving a kill -9.
   */
  durable?: boolean;
  /**
   * Runs the postmaster inside this network namespace (kiln agents in namespaces of their own
   * reach it over a bridge, as agents on other hosts would over the LAN). This process, in the
   * host's namespace, then makes its databases through the server's Unix socket.
   */
  netns?: string;
  /** The address it listens on and URLs name (default 127.0.0.1). */
  listen?: string;
  /** Default 50: a test's handful of pools; several agents' pools of 10 need more. */
  maxConnections?: number;
  /** Clients from this network (CIDR) may connect over TCP too, with the password (initdb allows only loopback). */
  allowFrom?: string;
}

export async function startPostgres(o: PgOptions = {}): Promise<PgServer> {
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), 'kiln-pg-'));
  try {
    return await startIn(bin, dir, o);
  } catch (err) {
    if (process.env.KILN_KEEP_TMP === '1') process.stderr.write(`kept ${dir} (KILN_KEEP_TMP=1)\n`);
    else rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function startIn(bin: string, dir: string, o: PgOptions): Promise<PgServer> {
  const listen = o.listen ?? '127.0.0.1';
  const durable = o.durable ?? true;
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'sock');
  mkdirSync(socketDir);
  const password = randomBytes(12).toString('hex');
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (asRoot) for (const p of [dir, socketDir, pwfile]) chownSync(p, RUN_AS.uid, RUN_AS.gid);
  // The cluster is made for one test file and thrown away: initdb's own fsync of it buys nothing.
  // The server itself keeps fsync on unless told (StartOptions.durable): the fault tests rely on
  // what it acknowledged surviving a kill.
  const initdb = [
    '-D',
    dataDir,
    '-U',
    'kiln',
    `--pwfile=${pwfile}`,
    '--auth-host=scram-sha-256',
    '--auth-local=trust',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
    '--no-instructions',
  ];
  const [tool, args] = unprivileged(join(bin, 'initdb'), initdb);
  await run(tool, args, { cwd: dir, env: { LANG: 'C', LC_ALL: 'C' } });
  rmSync(pwfile);
  if (o.allowFrom) appendFileSync(join(dataDir, 'pg_hba.conf'), `host all all ${o.allowFrom} scram-sha-256\n`);

  // in a namespace of its own any port is free there; 5432 is what an operator's URL would name
  const port = o.netns ? 5432 : await freeTcpPort();
  const urlOf = (db: string): string => `postgres://kiln:${password}@${listen}:${port}/${encodeURIComponent(db)}`;
  const serverArgs = [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-k',
    socketDir,
    '-c',
    `listen_addresses=${listen}`,
    // small and quick to start; a test's handful of pools needs few connections
    '-c',
    'shared_buffers=16MB',
    '-c',
    `max_connections=${o.maxConnections ?? 50}`,
    ...(durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
  ];
  // `ip netns exec` execs the command, so the child is still the postmaster itself (kill() kills it)
  const inNs = (cmd: string, args: string[]): [string, string[]] => (o.netns ? ['ip', ['netns', 'exec', o.netns, cmd, ...args]] : [cmd, args]);
  let child: Postmaster | undefined;

  const start = async (): Promise<void> => {
    if (child) throw new Error('PostgreSQL test server: already running');
    // A kill -9 leaves the old backends to notice their postmaster is gone; until they have, the
    // shared memory block is in use and the new postmaster refuses. They exit within a second.
    const until = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const [cmd, cmdArgs] = inNs(...unprivileged(join(bin, 'postgres'), serverArgs));
      const proc = spawnPostmaster(cmd, cmdArgs, dir);
      const outcome = await readyOrExit(proc, until);
      if (outcome === 'ready') {
        child = proc;
        return;
      }
      const retry = /pre-existing shared memory block|lock file .* already exists/.test(outcome.log) && Date.now() < until;
      if (!retry) {
        proc.kill('SIGKILL');
        throw new Error(`PostgreSQL test server: ${cmd} ${cmdArgs.join(' ')} did not start (${outcome.why}):\n${tail(outcome.log)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const halt = async (signal: 'SIGINT' | 'SIGKILL'): Promise<void> => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    proc.kill(signal);
    await proc;
  };

  const createDatabase = async (name: string, opts: { template?: string } = {}): Promise<string> => {
    // from outside its namespace only the socket (auth-local=trust) reaches it
    const client = new pg.Client(o.netns ? { host: socketDir, port, user: 'kiln', database: 'postgres' } : { connectionString: urlOf('postgres') });
    await client.connect();
    try {
      const template = opts.template === undefined ? '' : ` TEMPLATE ${pg.escapeIdentifier(opts.template)}`;
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}${template}`);
    } finally {
      await client.end();
    }
    return urlOf(name);
  };

  await start();
  let url: string;
  try {
    url = await createDatabase('kiln');
  } catch (err) {
    await halt('SIGKILL');
    throw err;
  }
  return {
    url,
    socketUrl: `postgres://kiln:${password}@localhost/kiln?host=${encodeURIComponent(socketDir)}&port=${port}`,
    port,
    password,
    dataDir,
    socketDir,
    start,
    stop: () => halt('SIGINT'),
    kill: () => halt('SIGKILL'),
    restart: async () => {
      await halt('SIGINT');
      await start();
    },
    createDatabase,
    destroy: async () => {
      await halt('SIGINT');
      if (process.env.KILN_KEEP_TMP === '1') process.stderr.write(`kept ${dir} (KILN_KEEP_TMP=1)\n`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
}

function spawnPostmaster(cmd: string, args: string[], cwd: string) {
  return execa(cmd, args, { reject: false, all: true, cwd, env: { LANG: 'C', LC_ALL: 'C' } });
}
type Postmaster = ReturnType<typeof spawnPostmaster>;

type Outcome = 'ready' | { why: string; log: string };

/** Resolves once the postmaster logs that it accepts connections, or with its log when it exits or the time is up. */
function readyOrExit(proc: Postmaster, until: number): Promise<Outcome> {
  return new Promise((resolve) => {
    let log = '';
    const timer = setTimeout(() => done({ why: 'not ready in time', log }), Math.max(0, until - Date.now()));
    const onData = (chunk: Buffer | string): void => {
      log += chunk.toString();
      if (log.includes(READY)) done('ready');
    };
    const done = (o: Outcome): void => {
      clearTimeout(timer);
      proc.all?.off('data', onData);
      resolve(o);
    };
    proc.all?.on('data', onData);
    proc.then(
      (r) => done({ why: `exited${r.exitCode === undefined ? '' : ` with ${r.exitCode}`}${r.signal ? ` on ${r.signal}` : ''}`, log }),
      (e: unknown) => done({ why: String(e), log }),
    );
  });
}
