import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { run } from '../../src/util/exec.js';
import { sleep } from './net.js';

// Runs the real `kiln` CLI as its own process inside a network namespace (a process cannot move
// itself into one). src/ is compiled into a scratch dir inside the repo so node_modules resolves.

const repo = process.cwd();

export async function compileKiln(): Promise<{ work: string; entry: string }> {
  mkdirSync(join(repo, 'node_modules/.cache'), { recursive: true });
  const work = mkdtempSync(join(repo, 'node_modules/.cache/kiln-serve-test-'));
  const out = join(work, 'js');
  // Other areas of src/ may be mid-change; tsc still emits, and serve only needs its own modules.
  await run(join(repo, 'node_modules/.bin/tsc'), ['-p', join(repo, 'tsconfig.json'), '--outDir', out]).catch(() => undefined);
  // The CLI reads package.json two levels above its modules, as it does from dist-js/.
  symlinkSync(join(repo, 'package.json'), join(work, 'package.json'));
  // Only the commands of this area are wired, so a half-finished command elsewhere cannot break these tests.
  const entry = join(out, 'kiln-entry.mjs');
  writeFileSync(
    entry,
    [
      "import { Command } from 'commander';",
      "import { registerServe } from './cli/serve.js';",
      "import { registerNode } from './cli/node.js';",
      "import { registerInventory } from './cli/inventory.js';",
      "const program = new Command('kiln');",
      'registerServe(program);',
      'registerNode(program);',
      'registerInventory(program);',
      'program.parseAsync(process.argv).catch((e) => { console.error(String(e?.message ?? e)); process.exit(2); });',
      '',
    ].join('\n'),
  );
  return { work, entry };
}

/** `kiln serve`'s state dir, images dir and nodes file in a test's `work` dir: `state/`, `dist/`, `nodes.yaml`. */
export function serveDirs(work: string): string[] {
  return ['--state-dir', join(work, 'state'), '--images-dir', join(work, 'dist'), '--nodes', join(work, 'nodes.yaml')];
}

export class KilnProcess {
  private proc: ResultPromise | undefined;
  /** Set once the process has ended, however (exit code or signal). */
  private exited = false;
  log = '';

  constructor(
    private readonly ns: string,
    private readonly entry: string,
  ) {}

  /** The operator's API token (from the state dir once the service made it): every /api read needs it. */
  private apiToken: string | undefined;
  private stateDir: string | undefined;

  /** The API token, once the service is up. */
  get token(): string | undefined {
    return this.apiToken;
  }

  async get(path: string): Promise<string> {
    const auth = this.apiToken && path.startsWith('/api/') ? ['--header', `Authorization: Bearer ${this.apiToken}`] : [];
    const r = await run('ip', ['netns', 'exec', this.ns, 'busybox', 'wget', '-q', ...auth, '-O', '-', `http://127.0.0.1:8080${path}`], {
      timeoutMs: 10_000,
    });
    return r.stdout;
  }

  async start(args: string[]): Promise<void> {
    this.spawn(args);
    await this.waitHealthy();
  }

  /** Starts `kiln serve` without waiting for it (`nodeArgs` go to node itself, e.g. `--import`). */
  spawn(args: string[], nodeArgs: string[] = []): void {
    this.log = '';
    const p = execa(
      'ip',
      ['netns', 'exec', this.ns, process.execPath, ...nodeArgs, this.entry, 'serve', '--templates-dir', join(repo, 'cloud-init'), ...args],
      {
        reject: false,
        all: true,
      },
    );
    this.proc = p;
    this.exited = false;
    void p.then(() => (this.exited = true));
    p.all?.on('data', (c: Buffer) => (this.log += c.toString()));
    const at = args.indexOf('--state-dir');
    this.stateDir = at >= 0 ? args[at + 1] : undefined;
  }

  async waitHealthy(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if (
        await this.get('/health').then(
          () => true,
          () => false,
        )
      ) {
        if (this.stateDir) this.apiToken = readFileSync(join(this.stateDir, 'api-token'), 'utf8').trim();
        return;
      }
      if (this.exited) break;
      await sleep(100);
    }
    throw new Error(`kiln serve did not come up:\n${this.log}`);
  }

  /** Waits until the log has a line matching `re` (the process's own progress, not a guess by time). */
  async waitForLog(re: RegExp, timeoutMs = 10_000): Promise<void> {
    for (let t = 0; t < timeoutMs; t += 50) {
      if (re.test(this.log)) return;
      if (this.exited) break;
      await sleep(50);
    }
    throw new Error(`kiln serve never logged ${re}:\n${this.log}`);
  }

  /** How the process ended: its exit code, or the signal that killed it. */
  async ended(timeoutMs = 10_000): Promise<{ exitCode: number | undefined; signal: string | undefined } | 'running'> {
    const p = this.proc;
    if (!p) throw new Error('not started');
    const r = await Promise.race([p, sleep(timeoutMs).then(() => undefined)]);
    if (!r) return 'running';
    this.proc = undefined;
    return { exitCode: r.exitCode, signal: r.signal };
  }

  /** PID of the kiln process (`ip netns exec` execs node, so it is kiln's own). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Exit code or signal once kiln has exited; undefined while it runs. */
  get exitStatus(): number | string | undefined {
    const p = this.proc;
    if (!p) return 'not started';
    return p.exitCode ?? p.signalCode ?? undefined;
  }

  signal(sig: NodeJS.Signals): void {
    this.proc?.kill(sig);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p) return;
    p.kill('SIGTERM');
    await Promise.race([p, sleep(5000)]);
    if (p.exitCode === null) p.kill('SIGKILL');
  }
}
