import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { run } from '../../../src/util/exec.js';

describe('run() in binary mode (the initramfs is built through it)', () => {
  it('returns the tool output byte for byte', async () => {
    const data = Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 31) % 256));
    const gz = (await run('gzip', ['-n', '-9', '-c'], { input: data, binary: true })).stdoutBuffer;
    expect(gz[0]).toBe(0x1f);
    expect(gz[1]).toBe(0x8b);
    expect(gunzipSync(gz).equals(data)).toBe(true);
  });
});
