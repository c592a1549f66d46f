import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkK3sVersion, currentPins, k3sSums, type K3sPin, parseSums, releaseBase, releaseFileUrl, rewritePins } from '../../../src/spec/pin-k3s.js';
import { EXIT } from '../../../src/util/errors.js';
import { refusal } from '../../helpers/refusal.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const shipped = readFileSync('images/pi-k3s.yaml', 'utf8');

const newPins: K3sPin[] = [
  { artifact: 'k3s', version: 'v1.32.0+k3s1', url: 'https://example.test/v1.32.0%2Bk3s1/k3s-arm64', sha256: A },
  {
    artifact: 'k3s-airgap-images',
    version: 'v1.32.0+k3s1',
    url: 'https://example.test/v1.32.0%2Bk3s1/k3s-airgap-images-arm64.tar.zst',
    sha256: B,
  },
];
const note = { version: 'v1.32.0+k3s1', date: '2026-01-02' };

describe('k3s version and release URLs', () => {
  it('accepts release tags and refuses anything else, naming <version>', () => {
    expect(checkK3sVersion('v1.32.0+k3s1')).toBe('v1.32.0+k3s1');
    expect(checkK3sVersion('v1.31.12+k3s10')).toBe('v1.31.12+k3s10');
    for (const bad of ['1.32.0+k3s1', 'v1.32.0', 'v1.32+k3s1', 'v1.32.0-rc1+k3s1', 'v1.32.0+k3s1 ', 'v1.32.0+rke2r1']) {
      const e = refusal(() => checkK3sVersion(bad));
      expect(e.message).toContain('<version>');
      expect(e.exitCode).toBe(EXIT.invalid);
    }
  });

  it("defaults to upstream's GitHub release with + encoded, and takes a mirror base", () => {
    const gh = releaseBase('v1.32.0+k3s1');
    expect(gh).toBe('https://github.com/k3s-io/k3s/releases/download/v1.32.0%2Bk3s1/');
    expect(releaseFileUrl(gh, 'k3s-arm64')).toBe('https://github.com/k3s-io/k3s/releases/download/v1.32.0%2Bk3s1/k3s-arm64');
    // with or without the trailing slash, files land under the base, not beside it
    expect(releaseFileUrl(releaseBase('v1.32.0+k3s1', 'http://127.0.0.1:8080/k3s'), 'k3s-arm64')).toBe('http://127.0.0.1:8080/k3s/k3s-arm64');
    expect(releaseFileUrl(releaseBase('v1.32.0+k3s1', 'http://127.0.0.1:8080/'), 'k3s-arm64')).toBe('http://127.0.0.1:8080/k3s-arm64');
  });

  it('refuses a --release-url that is not an http(s) base, naming the flag', () => {
    for (const bad of ['mirror/k3s', 'ftp://mirror/k3s/', 'file:///srv/k3s/', 'https://mirror/k3s/?x=1']) {
      const e = refusal(() => releaseBase('v1.32.0+k3s1', bad));
      expect(e.message).toContain('--release-url');
      expect(e.exitCode).toBe(EXIT.invalid);
    }
  });
});

describe('sha256sum-arm64.txt', () => {
  it('reads "<sha256>  <file>" lines, binary-mode markers and CRLF, lowercasing the hash', () => {
    const { sums, malformed } = parseSums(`${A}  k3s-arm64\r\n\n${B.toUpperCase()} *k3s-airgap-images-arm64.tar.zst\n`);
    expect(malformed).toEqual([]);
    expect(Object.fromEntries(sums)).toEqual({ 'k3s-arm64': A, 'k3s-airgap-images-arm64.tar.zst': B });
  });

  it('reports malformed lines by number: short hashes, no file, one space, a file listed twice with two hashes', () => {
    const text = [`${A}  k3s-arm64`, 'abc  short', `${A}  `, `${A} k3s-one-space`, '<html>Not Found</html>', `${B}  k3s-arm64`, `${A}  k3s-arm64`].join('\n');
    const { sums, malformed } = parseSums(text);
    expect(malformed.map((m) => m.line)).toEqual([2, 3, 4, 5, 6]);
    expect(sums.get('k3s-arm64')).toBe(A);
  });

  it('gives the two pinned files, or refuses naming the URL and what is wrong', () => {
    const url = 'http://mirror/sha256sum-arm64.txt';
    expect(k3sSums(`${A}  k3s-arm64\n${B}  k3s-airgap-images-arm64.tar.zst\n${A}  k3s-airgap-images-arm64.tar\n`, url)).toEqual({
      'k3s-arm64': A,
      'k3s-airgap-images-arm64.tar.zst': B,
    });
    const missing = refusal(() => k3sSums(`${A}  k3s-arm64\n`, url));
    expect(missing.message).toContain(url);
    expect(missing.message).toContain('k3s-airgap-images-arm64.tar.zst');
    const html = refusal(() => k3sSums('<!DOCTYPE html>\n', url));
    expect(html.message).toContain(`${url}: line 1`);
    expect(html.exitCode).toBe(EXIT.invalid);
  });
});

describe('rewriting the pins', () => {
  it('reads the current pins of the shipped spec', () => {
    const pins = currentPins(shipped, 'images/pi-k3s.yaml');
    expect(pins.map((p) => [p.artifact, p.version])).toEqual([
      ['k3s', 'v1.36.4+k3s1'],
      ['k3s-airgap-images', 'v1.36.4+k3s1'],
    ]);
  });

  it('changes version, url and sha256 and the pin comment, every other byte of the shipped spec kept', () => {
    const { text, commented } = rewritePins(shipped, 'images/pi-k3s.yaml', newPins, note);
    expect(commented).toBe(true);
    const spec = parse(text) as { artifacts: Record<string, Record<string, string>> };
    expect(spec.artifacts.k3s).toEqual({
      description: 'k3s single binary (server and agent)',
      version: 'v1.32.0+k3s1',
      url: 'https://example.test/v1.32.0%2Bk3s1/k3s-arm64',
      sha256: A,
      install: '/usr/local/bin/k3s',
      mode: '0755',
    });
    expect(spec.artifacts['k3s-airgap-images']?.sha256).toBe(B);
    expect(spec.artifacts['k3s-airgap-images']?.install).toBe('/var/lib/rancher/k3s/agent/images/k3s-airgap-images-arm64.tar.zst');

    // everything up to the pins' comment is byte-identical (inline comments, flow lists, spacing)
    const head = shipped.slice(0, shipped.indexOf('artifacts:\n') + 'artifacts:\n'.length);
    expect(text.startsWith(head)).toBe(true);
    const oldLines = shipped.slice(head.length).split('\n');
    const newLines = text.slice(head.length).split('\n');
    expect(newLines.slice(0, 2)).toEqual([
      "  # Checked against upstream's sha256sum-arm64.txt of v1.32.0+k3s1 by `kiln pin k3s` on 2026-01-02: both",
      '  # files were downloaded and hashed. kiln cache add accepts a downloaded file only if it matches.',
    ]);
    expect(text).not.toContain('NOT checked against');
    // line by line after the comment: only the pinned values differ, quoting of mode kept
    const changed = newLines.slice(2).filter((l, i) => l !== oldLines[i + 2]);
    expect(changed).toEqual([
      '    version: v1.32.0+k3s1',
      '    url: https://example.test/v1.32.0%2Bk3s1/k3s-arm64',
      `    sha256: ${A}`,
      '    version: v1.32.0+k3s1',
      '    url: https://example.test/v1.32.0%2Bk3s1/k3s-airgap-images-arm64.tar.zst',
      `    sha256: ${B}`,
    ]);
    expect(text).toContain("    mode: '0755'");
  });

  it('is stable: pinning again replaces its own comment instead of stacking another', () => {
    const once = rewritePins(shipped, 'f.yaml', newPins, note).text;
    const twice = rewritePins(once, 'f.yaml', newPins, { ...note, date: '2026-02-03' }).text;
    expect(twice.match(/kiln pin k3s/g)).toHaveLength(1);
    expect(twice.replace('2026-02-03', '2026-01-02')).toBe(once);
  });

  it('keeps a comment above the pins that is not about them, and quoting the old values had', () => {
    const text = [
      'artifacts:',
      '  # owned by the platform team',
      '  k3s-airgap-images:   # the bundle',
      '    description: bundle',
      "    version: 'v1'",
      '    url: "https://old/b"',
      `    sha256: ${'c'.repeat(64)}  # old`,
      '    install: /b',
      '  k3s:',
      '    description: bin',
      '    version: v1',
      '    url: https://old/a',
      `    sha256: ${'d'.repeat(64)}`,
      '    install: /a',
      '',
    ].join('\n');
    const out = rewritePins(text, 'f.yaml', newPins, note).text.split('\n');
    expect(out[1]).toBe('  # owned by the platform team');
    expect(out[2]).toMatch(/^ {2}# Checked against/);
    expect(out[4]).toBe('  k3s-airgap-images:   # the bundle');
    expect(out[6]).toBe("    version: 'v1.32.0+k3s1'");
    expect(out[7]).toBe('    url: "https://example.test/v1.32.0%2Bk3s1/k3s-airgap-images-arm64.tar.zst"');
    expect(out[8]).toBe(`    sha256: ${B}  # old`);
  });

  it('quotes a new value that would not read back as the same string when plain', () => {
    const digits = '1'.repeat(64);
    const pins = newPins.map((p) => (p.artifact === 'k3s' ? { ...p, sha256: digits } : p));
    const out = rewritePins(shipped, 'f.yaml', pins, note).text;
    expect(out).toContain(`    sha256: "${digits}"`);
    expect((parse(out) as { artifacts: { k3s: { sha256: unknown } } }).artifacts.k3s.sha256).toBe(digits);
  });

  it('leaves the comment alone for pins in a flow mapping, and says so', () => {
    const text = `artifacts: {k3s: {description: a, version: v1, url: u, sha256: ${A}, install: /a}, k3s-airgap-images: {description: b, version: v1, url: u, sha256: ${A}, install: /b}}\n`;
    const { text: out, commented } = rewritePins(text, 'f.yaml', newPins, note);
    expect(commented).toBe(false);
    expect(out).not.toContain('#');
    expect((parse(out) as { artifacts: { 'k3s-airgap-images': { sha256: string } } }).artifacts['k3s-airgap-images'].sha256).toBe(B);
  });

  it('refuses a spec without the entries in this file, naming the file and the field', () => {
    const noArtifacts = refusal(() => currentPins('extends: base.yaml\n', 'child.yaml'));
    expect(noArtifacts.message).toBe('child.yaml: artifacts: no mapping in this file; kiln pin rewrites the file that declares the k3s pins');
    const noBundle = refusal(() => currentPins(`artifacts:\n  k3s: {description: a, version: v1, url: u, sha256: ${A}, install: /a}\n`, 'f.yaml'));
    expect(noBundle.message).toContain('f.yaml: artifacts.k3s-airgap-images:');
    const noUrl = refusal(() => currentPins(shipped.replace(/ {4}url: .*k3s-arm64\n/, ''), 'f.yaml'));
    expect(noUrl.message).toContain('f.yaml: artifacts.k3s.url:');
    expect(refusal(() => currentPins('artifacts: [\n', 'f.yaml')).message).toContain('f.yaml: not valid YAML');
  });

  it('refuses a new pin the schema would refuse', () => {
    const pins = newPins.map((p) => ({ ...p, sha256: 'not-a-hash' }));
    expect(refusal(() => rewritePins(shipped, 'f.yaml', pins, note)).message).toContain('f.yaml: artifacts.k3s: the new pin is invalid: sha256:');
  });
});
