import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { ToolError, tail } from '../../util/exec.js';
import type { ImageTools } from '../native/image-tools.js';

export interface StreamSink {
  /** `release` is called once the chunk has gone down the pipe (the caller may then reuse it). */
  write(chunk: Buffer, release?: () => void): Promise<void>;
  /** Waits for the compressed file to be complete; its size and sha256 were taken as it was written. */
  end(): Promise<{ size: number; sha256: string }>;
}

export const ZSTD_ARGS = ['-q', '-3', '-T2', '--no-progress'];

/**
 * zstd reading the image as it is assembled, so compression runs on the second core while the disk
 * stage hashes and writes: the image is never read back just to compress it. Its output comes back
 * through us and is hashed on the way to the file, so the .zst is not read back either.
 */
export function zstdTo(outFile: string, tools: ImageTools): StreamSink {
  // -c to a pipe: the same frames as -o <file> (the input size is unknown either way)
  const args = [...ZSTD_ARGS, '-c', '-'];
  const cmd = tools.command('zstd', args);
  const child = execa(cmd.file, cmd.args, {
    env: tools.env(),
    extendEnv: false,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
    reject: false,
  });
  const stdin = child.stdin;
  let failed: Error | undefined;
  stdin.on('error', (err) => (failed = err));
  const h = createHash('sha256');
  let size = 0;
  const written = pipeline(
    child.stdout,
    async function* (source: AsyncIterable<Buffer>) {
      for await (const c of source) {
        h.update(c);
        size += c.length;
        yield c;
      }
    },
    createWriteStream(outFile),
  );
  written.catch(() => undefined);
  return {
    async write(chunk, release) {
      if (failed) throw failed;
      // Let up to 32 MiB queue up: a pipe holds 64 KiB, and waiting for every drain would make the
      // hashing and the compression take turns instead of running side by side.
      stdin.write(chunk, () => release?.());
      if (stdin.writableLength > 32 << 20) await once(stdin, 'drain');
    },
    async end() {
      stdin.end();
      const r = await child;
      if (r.failed) throw new ToolError('zstd', args, r.exitCode, tail(`${r.shortMessage}\n${String(r.stderr ?? '')}`));
      await written;
      return { size, sha256: h.digest('hex') };
    },
  };
}
