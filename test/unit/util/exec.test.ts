import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { run, toolVersion } from '../../../src/util/exec.js';

describe('run() in binary mode (the initramfs is built through it)', () => {
  it('returns the tool output byte for byte', async () => {
    const data = Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 31) % 256));
    const gz = (await run('gzip', ['-n', '-9', '-c'], { input: data, binary: true })).stdoutBuffer;
    expect(gz[0]).toBe(0x1f);
    expect(gz[1]).toBe(0x8b);
    expect(gunzipSync(gz).equals(data)).toBe(true);
  });
});

describe('run() for a program run through a loader (the image tools)', () => {
  it("passes only the given environment with cleanEnv, and all of kiln's without", async () => {
    process.env.KILN_TEST_LEAK = 'leaked';
    try {
      const clean = (await run('/usr/bin/env', [], { env: { ONLY: '1' }, cleanEnv: true })).stdout;
      expect(clean.trim().split('\n')).toEqual(['ONLY=1']);
      const extended = (await run('/usr/bin/env', [], { env: { ONLY: '1' } })).stdout;
      expect(extended).toContain('KILN_TEST_LEAK=leaked');
    } finally {
      delete process.env.KILN_TEST_LEAK;
    }
  });

  it('names the program and its arguments in a failure, not the loader', async () => {
    const err = await run('sh', ['-c', 'echo broken >&2; exit 3'], { display: { tool: 'mke2fs', args: ['-t', 'ext4', 'root.img'] } }).catch((e: Error) => e);
    expect(String(err)).toContain('mke2fs -t ext4 root.img failed (exit 3)');
    expect(String(err)).toContain('broken');
    expect(String(err)).not.toContain('sh -c');
  });
});

describe('toolVersion', () => {
  it("takes stdout's first line, so a warning on stderr is not the version", async () => {
    expect(await toolVersion('sh', ['-c', 'echo warning >&2; echo; echo "tool 1.2.3"'])).toBe('tool 1.2.3');
    expect(await toolVersion('sh', ['-c', 'echo "only on stderr 4.5" >&2'])).toBe('only on stderr 4.5');
  });
});
