import { execa } from 'execa';
import { once } from 'node:events';
import { ToolError, tail } from '../../util/exec.js';

export interface StreamSink {
  write(chunk: Buffer): Promise<void>;
  end(): Promise<void>;
}

export const ZSTD_ARGS = ['-q', '-3', '-T2', '--no-progress'];

/**
 * zstd reading the image as it is assembled, so compression runs on the second core while the disk
 * stage hashes and writes: the image is never read back just to compress it.
 */
export function zstdTo(outFile: string): StreamSink {
  // zstd writes the file itself: output piped through node would be buffered (and capped) by execa
  const args = [...ZSTD_ARGS, '-o', outFile, '-'];
  const child = execa('zstd', args, { stdin: 'pipe', stdout: 'ignore', stderr: 'pipe', reject: false });
  const stdin = child.stdin!;
  let failed: Error | undefined;
  stdin.on('error', (err) => (failed = err));
  return {
    async write(chunk) {
      if (failed) throw failed;
      // Let up to 64 MiB queue up: a pipe holds 64 KiB, and waiting for every drain would make the
      // hashing and the compression take turns instead of running side by side.
      stdin.write(chunk);
      if (stdin.writableLength > 64 << 20) await once(stdin, 'drain');
    },
    async end() {
      stdin.end();
      const r = await child;
      if (r.failed) throw new ToolError('zstd', args, r.exitCode, tail(`${r.shortMessage}\n${String(r.stderr ?? '')}`));
    },
  };
}
