import { describe, expect, it } from 'vitest';
import { timeline } from '../../helpers/timeline.js';

describe('e2e timeline', () => {
  it('lists steps in order with time since power-on and per step', () => {
    const t = timeline(
      [
        { what: 'installed', at: 10_000 + 125_000 },
        { what: 'U-Boot DHCP lease', at: 10_000 + 4_500 },
      ],
      10_000,
    );
    expect(t.split('\n')).toEqual(['   since     step  what', '    4.5s  +   4.5s  U-Boot DHCP lease', '   2m05s  +  2m01s  installed']);
  });
});
