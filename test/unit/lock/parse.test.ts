import { describe, expect, it } from 'vitest';
import { essentialPackages, indexByFilename, parsePrintUris, parseStanzas } from '../../../src/lock/parse.js';

// A generated index fixture in the Packages format (two architectures, continuation lines).
const index = `Package: base-files
Version: 13.8
Architecture: arm64
Essential: yes
Priority: required
Filename: pool/main/b/base-files/base-files_13.8_arm64.deb
Size: 73000
SHA256: ${'1'.repeat(64)}
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy.

Package: dash
Version: 0.5.12-12
Architecture: arm64
Essential: yes
Filename: pool/main/d/dash/dash_0.5.12-12_arm64.deb
Size: 100
SHA256: ${'2'.repeat(64)}

Package: bash
Version: 5.2.37-2+b5
Architecture: amd64
Essential: yes
Filename: pool/main/b/bash/bash_5.2.37-2+b5_amd64.deb
SHA256: ${'3'.repeat(64)}

Package: curl
Version: 8.14.1-2
Architecture: arm64
Filename: pool/main/c/curl/curl_8.14.1-2_arm64.deb
Size: 270000
SHA256: ${'4'.repeat(64)}
`;

describe('index parsing', () => {
  const stanzas = parseStanzas(index);
  it('splits stanzas and keeps continuation lines', () => {
    expect(stanzas).toHaveLength(4);
    expect(stanzas[0]).toMatchObject({ Description: expect.stringMatching(/\n This package/) });
  });
  it('finds Essential:yes for the target architecture only', () => {
    expect(essentialPackages(stanzas, 'arm64')).toEqual(['base-files', 'dash']);
  });
  it('indexes by pool path', () => {
    expect(indexByFilename(stanzas).get('pool/main/c/curl/curl_8.14.1-2_arm64.deb')?.Version).toBe('8.14.1-2');
  });
});

describe('apt --print-uris parsing', () => {
  it('reads download lines whatever hash apt chose to print', () => {
    const out = `Reading package lists...
'http://deb.debian.org/debian/pool/main/g/glibc/libc6_2.41-12%2bdeb13u5_arm64.deb' libc6_2.41-12+deb13u5_arm64.deb 2800000 MD5Sum:997abac31f8022d31dcda6d27ab7aa1e
'http://deb.debian.org/debian/pool/main/c/curl/curl_8.14.1-2_arm64.deb' curl_8.14.1-2_arm64.deb 270000 SHA256:${'4'.repeat(64)}
`;
    expect(parsePrintUris(out)).toEqual([
      { url: 'http://deb.debian.org/debian/pool/main/g/glibc/libc6_2.41-12%2bdeb13u5_arm64.deb', filename: 'libc6_2.41-12+deb13u5_arm64.deb', size: 2800000 },
      { url: 'http://deb.debian.org/debian/pool/main/c/curl/curl_8.14.1-2_arm64.deb', filename: 'curl_8.14.1-2_arm64.deb', size: 270000 },
    ]);
  });
  it('refuses a download line it cannot read', () => {
    expect(() => parsePrintUris("'http://x/y.deb' broken\n")).toThrow(/cannot read/);
  });
});
