import { test } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseSpec, buildFixture } from './fixture.js';
import { diffSources } from '../../../src/diff/diff.js';
import { resolveSource } from '../../../src/diff/source.js';
test('t', async () => {
  const w = await mkdtemp(join(tmpdir(), 'kt-'));
  let t = Date.now();
  const a = await buildFixture(join(w, 'a'), baseSpec());
  console.log('build1', Date.now() - t); t = Date.now();
  const s = baseSpec(); s.root['etc/hostname'] = { content: 'x\n' };
  const b = await buildFixture(join(w, 'b'), s);
  console.log('build2 (fat cached)', Date.now() - t); t = Date.now();
  await diffSources(await resolveSource(a.img), await resolveSource(b.img));
  console.log('diff', Date.now() - t);
});
