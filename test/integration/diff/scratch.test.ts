import { test } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseSpec, buildFixture } from './fixture.js';
import { diffSources } from '../../../src/diff/diff.js';
import { resolveSource } from '../../../src/diff/source.js';
import { renderText } from '../../../src/diff/report-text.js';

test('scratch', async () => {
  const out = await mkdtemp(join(tmpdir(), 'kiln-scratch-'));
  let t = Date.now();
  const a = await buildFixture(out, { ...baseSpec(), name: 'a' }, { products: true });
  console.log('build ms', Date.now() - t);
  const s = baseSpec();
  s.name = 'b';
  s.root['etc/motd'] = { content: 'line one\nline 2\nline three\nline four\nline five\n' };
  s.boot['config.txt'] = { content: 'arm_64bit=1\n' };
  s.root['usr/bin/sh'] = { symlink: 'other' };
  const b = await buildFixture(out, s, { products: true });
  const c = await buildFixture(out, { ...baseSpec(), name: 'c' }, { products: true });
  t = Date.now();
  const r = await diffSources(await resolveSource(a.dir), await resolveSource(b.dir));
  console.log('diff ms', Date.now() - t);
  console.log(renderText(r));
  const r2 = await diffSources(await resolveSource(a.dir), await resolveSource(c.img));
  console.log(renderText(r2));
  console.log(out);
});
