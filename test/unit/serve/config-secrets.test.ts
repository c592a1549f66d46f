import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fillTemplate } from '../../../src/serve/cloudinit.js';
import { parseServeConfig } from '../../../src/serve/config.js';
import { apiToken, k3sToken } from '../../../src/serve/secrets.js';
import { tempDir } from '../../helpers/tmp.js';

describe('serve settings', () => {
  const base = { stateDir: 's', imagesDir: 'd', templatesDir: 't' };
  it('defaults to proxy mode on the standard ports', () => {
    expect(parseServeConfig(base)).toMatchObject({ mode: 'proxy', httpPort: 8080, tftpPort: 69, dhcpPort: 67 });
  });
  it('names the bad setting', () => {
    expect(() => parseServeConfig({ ...base, mode: 'full' })).toThrow(/pool: full mode needs an address pool/);
    expect(() => parseServeConfig({ ...base, advertise: '10.0.0.300' })).toThrow(/advertise/);
    expect(() => parseServeConfig({ ...base, httpPort: 70000 })).toThrow(/httpPort/);
  });
  it('has HTTP timeouts by default, the headers within the request', () => {
    expect(parseServeConfig(base)).toMatchObject({
      httpRequestTimeoutSeconds: 30,
      httpHeadersTimeoutSeconds: 10,
      httpKeepAliveTimeoutSeconds: 5,
      httpIdleTimeoutSeconds: 120,
    });
    expect(() => parseServeConfig({ ...base, httpRequestTimeoutSeconds: 0 })).toThrow(/httpRequestTimeoutSeconds/);
    expect(() => parseServeConfig({ ...base, httpRequestTimeoutSeconds: 5, httpHeadersTimeoutSeconds: 10 })).toThrow(
      /httpHeadersTimeoutSeconds: must not be longer than httpRequestTimeoutSeconds/,
    );
  });
});

describe('state-dir secrets', () => {
  it('generates tokens once, mode 0600, and reuses them', async () => {
    const d = tempDir('secrets');
    const a = await apiToken(d);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(await apiToken(d)).toBe(a);
    expect(statSync(join(d, 'api-token')).mode & 0o777).toBe(0o600);
    const k = await k3sToken(d);
    expect(await k3sToken(d)).toBe(k);
    expect(await k3sToken(d, 'K10operator-given')).toBe('K10operator-given');
    expect(readFileSync(join(d, 'k3s-token'), 'utf8').trim()).toBe('K10operator-given');
  });
});

describe('cloud-init templates', () => {
  it('quotes values so they cannot inject YAML, and rejects unknown placeholders', () => {
    const out = fillTemplate('hostname: {{ hostname }}\n', { hostname: 'x\nruncmd: [rm -rf /]' }, 't');
    expect(out).toBe('hostname: "x\\nruncmd: [rm -rf /]"\n');
    expect(() => fillTemplate('a: {{ nope }}\n', {}, 't')).toThrow(/unknown placeholder/);
  });
});
