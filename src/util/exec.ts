import { execa, type Options } from 'execa';
import { EXIT, KilnError } from './errors.js';

export class ToolError extends KilnError {
  constructor(
    readonly tool: string,
    readonly args: readonly string[],
    /** The tool's own exit status (undefined: killed, timed out or never started). */
    readonly status: number | undefined,
    readonly stderrTail: string,
    hint?: string,
  ) {
    super(`${tool} ${args.map(quote).join(' ')} failed${status === undefined ? '' : ` (exit ${status})`}${stderrTail ? `:\n${stderrTail}` : ''}`, {
      exitCode: EXIT.tool,
      ...(hint ? { hint } : {}),
    });
  }
}

function quote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`;
}

export function tail(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  /** Stream the tool's stderr lines to this callback (progress of long runs). */
  onStderrLine?: (line: string) => void;
  onStdoutLine?: (line: string) => void;
  /** Keep stdout as a Buffer instead of a string. */
  binary?: boolean;
  timeoutMs?: number;
  /** The environment is exactly `env`: nothing of kiln's own (PATH, LD_*, the tools' config variables). */
  cleanEnv?: boolean;
  /** How a failure names the command (a program run through a loader is named by itself). */
  display?: { tool: string; args: readonly string[] };
}

export interface RunResult {
  stdout: string;
  stdoutBuffer: Buffer;
  stderr: string;
}

/**
 * Runs an external tool with an argument array (never a shell string). Failure raises a ToolError
 * naming the tool, its arguments and the end of its stderr.
 */
export async function run(tool: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const options: Options = {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: !opts.cleanEnv,
    input: opts.input,
    reject: false,
    encoding: opts.binary ? 'buffer' : 'utf8',
    stripFinalNewline: false,
    timeout: opts.timeoutMs,
    maxBuffer: 1024 * 1024 * 1024,
  };
  const child = execa(tool, args, options);
  if (opts.onStderrLine && child.stderr) forEachLine(child.stderr, opts.onStderrLine);
  if (opts.onStdoutLine && child.stdout) forEachLine(child.stdout, opts.onStdoutLine);
  const r = await child;
  const stderr = toText(r.stderr);
  if (r.failed) {
    const why = r.exitCode === undefined ? `${r.shortMessage}\n${stderr}` : stderr;
    const missing = (r as { code?: string }).code === 'ENOENT';
    throw new ToolError(
      opts.display?.tool ?? tool,
      opts.display?.args ?? args,
      r.exitCode,
      tail(why),
      missing ? `${tool} is not installed or not on PATH: bash scripts/setup-host.sh installs kiln's host tools` : undefined,
    );
  }
  // execa returns a Uint8Array (not a Buffer) in buffer mode: wrap it, never round-trip it as text.
  const stdoutBuffer = r.stdout instanceof Uint8Array ? Buffer.from(r.stdout.buffer, r.stdout.byteOffset, r.stdout.byteLength) : Buffer.from(toText(r.stdout));
  return { stdout: toText(r.stdout), stdoutBuffer, stderr };
}

function forEachLine(stream: NodeJS.ReadableStream, fn: (line: string) => void): void {
  let pending = '';
  stream.on('data', (chunk: Buffer | string) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const l of lines) fn(l);
  });
}

function toText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  return '';
}

/** First line of `tool --version` style output, for the manifest's host tool list. */
export async function toolVersion(tool: string, args: readonly string[] = ['--version']): Promise<string> {
  try {
    const r = await execa(tool, args, { reject: false, all: true });
    // stdout's first line: a warning on stderr (seen: mmdebstrap's `apt-config … printf` under
    // trixie's dash) must not become the version; stderr only for a tool that prints it there
    const text = String(r.stdout ?? '').trim() ? String(r.stdout) : String(r.all ?? '');
    return (text.split('\n').find((l) => l.trim()) ?? 'unknown').trim();
  } catch {
    return 'not found';
  }
}
