import { describe, expect, it } from 'vitest';
import { netbootNote } from '../../../../src/serve/plan/netboot-note.js';
import { fakeNode } from '../../../helpers/fakes.js';

const PXE = 'PXEClient:Arch:00000:UNDI:002001';
const OS = 'dhcpcd-10.1.0:Linux-7.3.4+deb13-arm64:aarch64:BCM2835';
const ev = (type: 'dhcp-seen' | 'discovered' | 'dhcp-offered', vendorClass?: string | null) => ({
  type,
  data: vendorClass === undefined ? {} : { vendorClass },
});

describe('netbootNote', () => {
  it('says a Pi 4 or 5 seen only from its running system never netbooted, and names the EEPROM setting', () => {
    // systemd-networkd sends no vendor class at all: a running system too
    const note = netbootNote(fakeNode({ model: 'pi5' }), [ev('discovered', OS), ev('dhcp-seen', null)]);
    expect(note).toMatch(/^never netbooted: its 2 DHCP requests on record came from a running system, none from its bootloader/);
    expect(note).toMatch(/kiln eeprom --board pi4\|pi5/);
    // an unknown model (a Pi known by its MAC's OUI) gets the EEPROM advice too
    expect(netbootNote(fakeNode({ model: null }), [ev('dhcp-seen', OS)])).toMatch(/one DHCP request .* EEPROM boot order/);
  });

  it('has no EEPROM advice for a Pi 3, which has none', () => {
    const note = netbootNote(fakeNode({ model: 'pi3b+' }), [ev('dhcp-seen', OS)]);
    expect(note).toMatch(/a Pi 3 netboots only when no card boots/);
    expect(note).not.toMatch(/EEPROM/);
  });

  it('says nothing once its bootloader (or U-Boot) asked, or when no request says who asked', () => {
    expect(netbootNote(fakeNode({ model: 'pi4' }), [ev('dhcp-seen', OS), ev('dhcp-seen', PXE)])).toBeUndefined();
    // events from before kiln recorded the vendor class, and events that are not requests
    expect(netbootNote(fakeNode(), [ev('discovered'), ev('dhcp-offered', OS)])).toBeUndefined();
    expect(netbootNote(fakeNode(), [])).toBeUndefined();
  });
});
