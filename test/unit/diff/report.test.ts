import { describe, expect, it } from 'vitest';
import type { DiffReport } from '../../../src/diff/model.js';
import { escapeHtml, renderHtml } from '../../../src/diff/report-html.js';
import { renderText } from '../../../src/diff/report-text.js';

function report(): DiffReport {
  return {
    kilnDiffVersion: 1,
    a: { label: 'dist/a', image: '/x/a.img', size: 10, sha256: 'aaa' },
    b: { label: 'dist/b', image: '/x/b.img', size: 10, sha256: 'bbb' },
    identical: false,
    layers: [
      { id: 'image', title: 'Image bytes', status: 'different', fields: [{ field: 'sha256', a: 'aaa', b: 'bbb' }], entries: [] },
      { id: 'partition-table', title: 'Partition table (MBR)', status: 'same', fields: [], entries: [] },
      {
        id: 'partition2:files',
        title: 'Partition 2: files',
        status: 'different',
        fields: [],
        entries: [
          {
            name: '/etc/<motd>',
            change: 'changed',
            kind: 'file',
            fields: [{ field: 'mode', a: '0644', b: '0600' }],
            unifiedDiff: '--- a\n+++ b\n@@ -1 +1 @@\n-<old>\n+new & improved\n',
          },
          { name: '/new', change: 'added', kind: 'file', fields: [{ field: 'size', a: null, b: 3 }] },
        ],
      },
    ],
  };
}

describe('text report', () => {
  it('leads with the verdict and the first differing layer, then lists same layers', () => {
    const text = renderText(report());
    const lines = text.split('\n');
    expect(lines[1]).toBe('DIFFERENT in 2 layer(s): image, partition2:files');
    expect(text.indexOf('== Image bytes')).toBeLessThan(text.indexOf('== Partition 2: files'));
    expect(text).toContain('   ~ file /etc/<motd>\n       mode: 0644 → 0600');
    expect(text).toContain('       +new & improved');
    expect(text).toContain('   + file /new\n       size: 3');
    expect(lines.at(-2)).toBe('Same: partition-table');
  });

  it('says IDENTICAL with the hash when nothing differs', () => {
    const r = report();
    r.identical = true;
    r.layers = [{ id: 'image', title: 'Image bytes', status: 'same', fields: [], entries: [] }];
    expect(renderText(r)).toContain('IDENTICAL: aaa (10 bytes)');
  });
});

describe('html report', () => {
  it('is one self-contained page with everything escaped', () => {
    const html = renderHtml(report());
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|src=|href=/);
    expect(html).toContain('/etc/&lt;motd&gt;');
    expect(html).toContain('<span class="del">-&lt;old&gt;</span>');
    expect(html).toContain('+new &amp; improved');
    expect(escapeHtml(`"'<>&`)).toBe('&quot;&#39;&lt;&gt;&amp;');
  });
});

describe('json report', () => {
  it('round-trips through JSON unchanged', () => {
    const r = report();
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });
});
