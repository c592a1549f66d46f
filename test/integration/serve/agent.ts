import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { run } from '../../../src/util/exec.js';
import type { AgentApi, AgentCommand } from './ns-agent.js';

// The test-side handle of ns-agent.ts: compiles it (with the kiln modules it imports) into the
// scratch dir compileKiln() made, runs it inside a network namespace, and calls it.

const repo = process.cwd();

/** Compiles ns-agent.ts into `work`; returns the entry to run with node. */
export async function compileAgent(work: string): Promise<string> {
  const out = join(work, 'agent');
  const config = join(work, 'tsconfig.agent.json');
  writeFileSync(
    config,
    JSON.stringify({
      extends: join(repo, 'tsconfig.json'),
      compilerOptions: { rootDir: repo, outDir: out, sourceMap: false, types: ['node'], typeRoots: [join(repo, 'node_modules/@types')] },
      files: [join(repo, 'test/integration/serve/ns-agent.ts')],
      include: [],
    }),
  );
  await run(join(repo, 'node_modules/.bin/tsc'), ['-p', config]);
  return join(out, 'test/integration/serve/ns-agent.js');
}

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export class NsAgent {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  stderr = '';

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      let r: Reply;
      try {
        r = JSON.parse(line) as Reply;
      } catch {
        this.stderr += `(stdout) ${line}\n`;
        return;
      }
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r.result);
      else p.reject(new Error(`agent: ${r.error ?? 'failed'}`));
    });
    child.stderr.on('data', (c: Buffer) => (this.stderr += c.toString()));
    child.on('exit', (code, sig) => {
      for (const p of this.pending.values()) p.reject(new Error(`agent exited (${code ?? sig}):\n${this.stderr}`));
      this.pending.clear();
    });
  }

  static async start(ns: string, entry: string): Promise<NsAgent> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, entry], { stdio: ['pipe', 'pipe', 'pipe'] });
    const agent = new NsAgent(child);
    await agent.call('ping', {}, 10_000);
    return agent;
  }

  call<K extends AgentCommand>(cmd: K, args: AgentApi[K]['args'], timeoutMs = 60_000): Promise<AgentApi[K]['result']> {
    const id = this.next++;
    return new Promise<AgentApi[K]['result']>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`agent ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as AgentApi[K]['result']);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.stdin.write(`${JSON.stringify({ id, cmd, args })}\n`);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.stdin.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}
