import { describe, expect, it } from 'vitest';
import type { EventType, NodeRecord } from '../../../../src/serve/nodes/model.js';
import {
  answeredEffects,
  decideDhcp,
  DHCP_DROP_REASONS,
  type DhcpClient,
  type DhcpDecision,
  type DhcpEffect,
  type DhcpPolicy,
  type DhcpRequest,
} from '../../../../src/serve/plan/dhcp.js';
import { fakeImage, fakeNode } from '../../../helpers/fakes.js';

const pxe = { mac: 'dc:a6:32:01:02:03', serial: '1234abcd', fourcc: 'RPi4', vendorClass: 'PXEClient:Arch:00000:UNDI:002001' };
const uboot = { mac: '52:54:00:12:34:56', vendorClass: 'PXEClient:Arch:00011:UNDI:003000' };
const os = { mac: '52:54:00:12:34:56', vendorClass: 'systemd-networkd' };
const laptop = { mac: '00:11:22:33:44:55', vendorClass: 'MSFT 5.0' };
const ev = (...types: EventType[]) => types.map((type) => ({ type }));
const img = fakeImage();
const proxy: DhcpPolicy = { mode: 'proxy', discovery: false };
const full: DhcpPolicy = { mode: 'full', discovery: false };

/** A DISCOVER from `client` naming `node`, whose image exists unless the test says otherwise. */
function decide(node: NodeRecord | undefined, client: DhcpClient, policy: DhcpPolicy, over: Partial<DhcpRequest> = {}): DhcpDecision {
  return decideDhcp({ message: 'discover', client, node, image: img, ...over }, policy);
}

const seen = (node = 'pi-01', mac = pxe.mac, vendorClass: string | null = pxe.vendorClass): DhcpEffect => ({ kind: 'seen', node, mac, vendorClass });

describe('decideDhcp: every reason, with the registry changes it implies', () => {
  const cases: [string, DhcpDecision, Partial<DhcpDecision>][] = [
    [
      'a node with plan install is booted',
      decide(fakeNode(), pxe, proxy),
      { answer: 'boot', reason: 'plan-install', menu: 'Raspberry Pi Boot', pxe: true, effects: [seen()] },
    ],
    [
      'a local node that netboots with self-heal on is healed (its disk did not boot)',
      decide(fakeNode({ plan: 'local', selfHeal: true }), pxe, proxy, { history: ev('installed', 'first-boot') }),
      {
        answer: 'boot',
        reason: 'self-heal',
        effects: [seen(), { kind: 'self-heal', node: 'pi-01', reason: 'plan local but netbooting (PXEClient:Arch:00000:UNDI:002001): its disk did not boot' }],
      },
    ],
    [
      "full mode leases a local node's own system an address",
      decide(fakeNode({ plan: 'local', mac: os.mac }), os, full),
      { answer: 'lease', reason: 'plan-local', effects: [seen('pi-01', os.mac, os.vendorClass)] },
    ],
    [
      'an unknown laptop',
      decide(undefined, laptop, { mode: 'proxy', discovery: true }),
      { answer: 'none', reason: 'unknown-client', detail: 'unknown client', effects: [] },
    ],
    [
      'an unknown Pi with discovery on is recorded',
      decide(undefined, pxe, { mode: 'proxy', discovery: true }),
      {
        answer: 'none',
        reason: 'discovered',
        detail: 'unknown Raspberry Pi',
        effects: [
          { kind: 'record-discovered', mac: pxe.mac, serial: pxe.serial, board: { model: 'unknown', boardRevision: null }, vendorClass: pxe.vendorClass },
        ],
      },
    ],
    [
      'a discovered placeholder, until registered',
      decide(fakeNode({ plan: 'discovered' }), pxe, { mode: 'full', discovery: true }),
      { answer: 'none', reason: 'discovered', detail: 'discovered, not registered', effects: [] },
    ],
    [
      "its serial from another MAC than the node's",
      decide(fakeNode(), { ...pxe, mac: '02:66:00:00:00:01' }, full),
      { answer: 'none', reason: 'mac-mismatch', detail: 'mac mismatch: pi-01 has another MAC', effects: [] },
    ],
    [
      'a parked node',
      decide(fakeNode({ parked: '3 failed installs' }), pxe, proxy),
      { answer: 'none', reason: 'parked', detail: 'parked: 3 failed installs', effects: [seen()] },
    ],
    [
      'a local node whose last install never booted from disk is parked rather than reinstalled',
      decide(fakeNode({ plan: 'local', selfHeal: true }), pxe, proxy, { history: ev('install-started', 'installed') }),
      {
        answer: 'none',
        reason: 'parked',
        detail: expect.stringMatching(/^netbooted again after installing, with no first boot/) as string,
        effects: [seen(), { kind: 'park', node: 'pi-01', reason: expect.stringMatching(/^netbooted again after installing/) as string }],
      },
    ],
    [
      'a local node without self-heal',
      decide(fakeNode({ plan: 'local' }), pxe, proxy),
      { answer: 'none', reason: 'plan-local', detail: 'plan local: boots its own disk', effects: [seen()] },
    ],
    [
      'an ordinary DHCP client in proxy mode',
      decide(fakeNode({ mac: os.mac }), os, proxy),
      { answer: 'none', reason: 'not-pxe', detail: 'not a PXE client', effects: [seen('pi-01', os.mac, os.vendorClass)] },
    ],
    [
      'a node whose image is missing',
      decide(fakeNode(), pxe, full, { image: undefined }),
      { answer: 'none', reason: 'no-image', detail: 'image fixture not found', effects: [seen()] },
    ],
  ];
  it.each(cases)('%s', (_what, d, want) => expect(d).toMatchObject(want));

  it('reaches every drop reason the metrics name', () => {
    const reached = new Set(
      cases
        .map(([, d]) => d)
        .filter((d) => d.answer === 'none')
        .map((d) => d.reason),
    );
    expect([...reached].sort()).toEqual([...DHCP_DROP_REASONS].sort());
  });
});

describe('decideDhcp', () => {
  it('records unknown Pis only when discovery is on, and only from a DISCOVER', () => {
    expect(decide(undefined, pxe, proxy)).toMatchObject({ reason: 'unknown-client', effects: [] });
    expect(decideDhcp({ message: 'request', client: pxe }, { mode: 'full', discovery: true })).toMatchObject({ reason: 'discovered', effects: [] });
  });
  it('in proxy mode answers only PXE clients; full mode also U-Boot', () => {
    const u = { mac: '52:54:00:12:34:56', vendorClass: 'U-Boot.armv8' };
    expect(decide(fakeNode({ mac: u.mac }), u, proxy).answer).toBe('none');
    expect(decide(fakeNode({ mac: u.mac }), u, full)).toMatchObject({ answer: 'boot', pxe: false });
  });
  it('gives a Pi 3 (no option 97) the menu string with three trailing spaces', () => {
    const pi3 = { mac: 'b8:27:eb:00:00:01', vendorClass: 'PXEClient:Arch:00000:UNDI:002001' };
    expect(decide(fakeNode({ mac: pi3.mac }), pi3, proxy)).toMatchObject({ menu: 'Raspberry Pi Boot   ' });
  });
  it('counts a node as seen only from a DISCOVER (a REQUEST follows one)', () => {
    expect(decide(fakeNode(), pxe, full, { message: 'request' })).toMatchObject({ answer: 'boot', effects: [] });
    expect(decide(fakeNode({ plan: 'local' }), pxe, proxy, { message: 'request' })).toMatchObject({ reason: 'plan-local', effects: [] });
  });
  it('learns the MAC or serial a node was registered without, never one it has', () => {
    const learn = { kind: 'learn-identity', node: 'pi-01', mac: pxe.mac, serial: pxe.serial };
    expect(decide(fakeNode({ mac: null }), pxe, proxy).effects).toEqual([seen(), learn]);
    expect(decide(fakeNode({ serial: null }), pxe, proxy).effects).toEqual([seen(), learn]);
    // the serial is learned only when the packet has one
    expect(decide(fakeNode({ mac: os.mac, serial: null }), os, full).effects).toEqual([seen('pi-01', os.mac, os.vendorClass)]);
    // even a node that is not answered shows who it is
    expect(decide(fakeNode({ mac: null, plan: 'local' }), pxe, proxy)).toMatchObject({ reason: 'plan-local', effects: [seen(), learn] });
  });
  // Revision codes from the Raspberry Pi documentation ("Raspberry Pi revision codes").
  const pi4 = { ...pxe, boardRevision: '00d03114' };
  const pi5 = { ...pxe, fourcc: 'RPi5', boardRevision: '00c04170' };
  it("records the board option 97's revision code names, in dhcp-seen and on the node when it is new", () => {
    const learn = (model: string, boardRevision: string) => ({ kind: 'learn-board', node: 'pi-01', board: { model, boardRevision } });
    expect(decide(fakeNode(), pi4, proxy).effects).toEqual([{ ...seen(), model: 'pi4' }, learn('pi4', '00d03114')]);
    expect(decide(fakeNode({ model: 'pi4', boardRevision: '00c03111' }), pi5, proxy).effects).toEqual([{ ...seen(), model: 'pi5' }, learn('pi5', '00c04170')]);
    // what is on record already is not written again at every DISCOVER
    expect(decide(fakeNode({ model: 'pi4', boardRevision: '00d03114' }), pi4, proxy).effects).toEqual([{ ...seen(), model: 'pi4' }]);
  });
  it('without a revision code (Pi 3 ROM, legacy option 97, U-Boot, an OS) says nothing about the board of a known node', () => {
    expect(decide(fakeNode({ model: 'pi4', boardRevision: '00d03114' }), pxe, proxy).effects).toEqual([seen()]);
    expect(decide(fakeNode({ mac: uboot.mac }), uboot, full).effects).toEqual([seen('pi-01', uboot.mac, uboot.vendorClass)]);
  });
  it('gives a discovered Pi the board it names, or `unknown` when it is only recognisably a Pi', () => {
    const on = { mode: 'proxy', discovery: true } as const;
    const record = (c: DhcpClient) => decide(undefined, c, on).effects;
    expect(record(pi5)).toEqual([
      { kind: 'record-discovered', mac: pxe.mac, serial: pxe.serial, board: { model: 'pi5', boardRevision: '00c04170' }, vendorClass: pxe.vendorClass },
    ]);
    const pi3 = { mac: 'b8:27:eb:00:00:01', vendorClass: pxe.vendorClass };
    expect(record(pi3)).toEqual([
      { kind: 'record-discovered', mac: pi3.mac, serial: undefined, board: { model: 'unknown', boardRevision: null }, vendorClass: pxe.vendorClass },
    ]);
    // a Pi known only by its OUI, asking from a running system: recorded with what it said it was
    const os = { mac: 'dc:a6:32:00:00:09', vendorClass: 'dhcpcd-10.1.0:Linux-7.3.4:aarch64:BCM2835' };
    expect(record(os)).toEqual([
      { kind: 'record-discovered', mac: os.mac, serial: undefined, board: { model: 'unknown', boardRevision: null }, vendorClass: os.vendorClass },
    ]);
  });
});

describe('self-healing in the DHCP decision', () => {
  it('serves the installer to a local node that netboots (its disk did not boot), when self-heal is on', () => {
    expect(decide(fakeNode({ plan: 'local', mac: uboot.mac, selfHeal: true }), uboot, full)).toMatchObject({ answer: 'boot', reason: 'self-heal', pxe: true });
  });
  it('self-heal is opt-in: a PXE DISCOVER (anyone can forge one) does not flip a local node by default', () => {
    const d = decide(fakeNode({ plan: 'local' }), pxe, proxy, { history: ev('installed', 'first-boot') });
    expect(d).toMatchObject({ answer: 'none', reason: 'plan-local', detail: 'plan local: boots its own disk' });
    expect(decide(fakeNode({ plan: 'local', selfHeal: false }), pxe, full).answer).toBe('none');
  });
  it('does not heal toward an image that is missing', () => {
    expect(decide(fakeNode({ plan: 'local', selfHeal: true }), pxe, proxy, { image: undefined })).toMatchObject({ reason: 'plan-local', effects: [seen()] });
  });
  it('gives a local node only an address in full mode when its own system asks', () => {
    expect(decide(fakeNode({ plan: 'local', mac: os.mac }), os, proxy)).toMatchObject({ answer: 'none', reason: 'plan-local' });
  });
  it("answers a packet naming a node by its serial only from that node's own MAC (a made-up MAC would take a pool address)", () => {
    const forged = { ...pxe, mac: '02:66:00:00:00:01' };
    expect(decide(fakeNode(), pxe, full).answer).toBe('boot');
    // a node registered by serial alone takes the MAC its first DISCOVER shows (learn-identity)
    expect(decide(fakeNode({ mac: null }), forged, full)).toMatchObject({
      answer: 'boot',
      effects: [seen('pi-01', forged.mac), { kind: 'learn-identity', node: 'pi-01', mac: forged.mac, serial: pxe.serial }],
    });
  });
});

describe('answeredEffects', () => {
  it('a proxy OFFER is an offer; a full-mode ACK is a lease and an offer with its address', () => {
    expect(answeredEffects('pi-01', pxe.mac)).toEqual([{ kind: 'offered', node: 'pi-01', mac: pxe.mac, mode: 'proxy' }]);
    expect(answeredEffects('pi-01', pxe.mac, '10.0.0.7')).toEqual([
      { kind: 'leased', node: 'pi-01', ip: '10.0.0.7' },
      { kind: 'offered', node: 'pi-01', mac: pxe.mac, mode: 'full', ip: '10.0.0.7' },
    ]);
  });
});
