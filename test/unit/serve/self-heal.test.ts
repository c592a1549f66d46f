import { describe, expect, it } from 'vitest';
import { failedInARow, selfHealBlocked, type EventType } from '../../../src/serve/nodes/model.js';

// The failure count on its own; parking, self-heal and the milestones read from the registry run
// on every store in test/shared/registry-suite.ts.

const ev = (...types: EventType[]) => types.map((type) => ({ type }));

describe('failure counting', () => {
  it('counts failed installs since the last success or operator action', async () => {
    expect(failedInARow(ev('registered', 'install-failed', 'install-failed'))).toBe(2);
    expect(failedInARow(ev('install-failed', 'installed', 'install-failed'))).toBe(1);
    expect(failedInARow(ev('install-failed', 'install-failed', 'reprovision'))).toBe(0);
    expect(selfHealBlocked(ev('installed', 'dhcp-seen'))).toMatch(/no first boot/);
    expect(selfHealBlocked(ev('installed', 'first-boot', 'dhcp-seen'))).toBeUndefined();
  });
});
