import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MSG } from '../../../src/serve/dhcp/options.js';
import type { BootArgs, NodeBoot, NodeSpec } from './ns-agent.js';

// What a simulated Pi 4 fetches when it netboots (ns-agent.ts's boot-many) and what it must get
// back, byte for byte: shared by the load test (one kiln) and bench/agents-load.ts (kiln agents
// over one store), so both judge "served" the same way.

/** A Pi 4's TFTP reads in boot order; recover4.elf does not exist and must be refused. */
export const PI4_FILES: BootArgs['files'] = [
  { path: 'config.txt' },
  { path: 'recover4.elf', missing: true },
  { path: 'start4.elf' },
  { path: 'fixup4.dat' },
  { path: 'bcm2711-rpi-4-b.dtb' },
  { path: 'cmdline.txt' },
  { path: 'installer/vmlinuz' },
  { path: 'installer/initrd.img' },
];
export const IMAGE_RANGES = ['bytes=0-65535', 'bytes=1048576-2097151', 'bytes=-4096'];

export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Nodes `<prefix>-<i>` with MACs and serials unique to `octet` (one byte: one set per run). */
export function nodesFor(prefix: string, octet: number, count: number): NodeSpec[] {
  const o = octet.toString(16).padStart(2, '0');
  return Array.from({ length: count }, (_, i) => {
    const hi = (i >> 8).toString(16).padStart(2, '0');
    const lo = (i & 0xff).toString(16).padStart(2, '0');
    return { name: `${prefix}-${String(i).padStart(2, '0')}`, mac: `dc:a6:32:${o}:${hi}:${lo}`, serial: `${o}00${hi}${lo}` };
  });
}

/** The p-th percentile of sorted numbers (nearest rank). */
export function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/**
 * What is wrong with boots that finished (`ok`), as readable lines; empty when every node got its
 * own lease from `server`, every file byte for byte (its own config.txt and cmdline.txt) and every
 * image range. Unfinished nodes are the caller's to report (their own error says more).
 */
export function bootProblems(boots: NodeBoot[], image: { name: string; dir: string }, server: string, files = PI4_FILES): string[] {
  const want = new Map<string, string>();
  for (const f of ['start4.elf', 'fixup4.dat', 'bcm2711-rpi-4-b.dtb']) want.set(f, sha(readFileSync(join(image.dir, 'boot', f))));
  for (const f of ['vmlinuz', 'initrd.img']) want.set(`installer/${f}`, sha(readFileSync(join(image.dir, 'installer', f))));
  const img = readFileSync(join(image.dir, `${image.name}.img`));
  const ranges = new Map([
    ['bytes=0-65535', sha(img.subarray(0, 65536))],
    ['bytes=1048576-2097151', sha(img.subarray(1048576, 2097152))],
    ['bytes=-4096', sha(img.subarray(img.length - 4096))],
  ]);
  const out: string[] = [];
  const check = (ok: boolean, what: string): void => {
    if (!ok) out.push(what);
  };
  const ips = boots.map((b) => b.ip);
  check(new Set(ips).size === ips.length, `${ips.length - new Set(ips).size} addresses leased twice`);
  for (const b of boots.filter((x) => x.ok)) {
    const a = b.dhcp.ack;
    check(b.dhcp.offer?.type === MSG.OFFER, `${b.name}: DHCP answer ${b.dhcp.offer?.type} is not an OFFER`);
    check(a?.type === MSG.ACK && a.serverId === server && a.vendorClass === 'PXEClient', `${b.name}: ACK ${JSON.stringify(a)}`);
    check(b.files.map((f) => f.path).join() === files.map((f) => f.path).join(), `${b.name}: fetched ${b.files.map((f) => f.path).join()}`);
    for (const f of b.files) {
      if (files.find((x) => x.path === f.path)?.missing) check(f.error?.code === 1, `${b.name} ${f.path}: not refused as missing`);
      else check(f.oack?.blksize === '1024' && f.oack.tsize === String(f.size), `${b.name} ${f.path}: OACK ${JSON.stringify(f.oack)}`);
      const expected = want.get(f.path);
      if (expected) check(f.sha256 === expected, `${b.name} ${f.path}: other bytes`);
    }
    const text = (p: string): string => b.files.find((f) => f.path === p)?.text ?? '';
    check(text('config.txt').includes('kernel=installer/vmlinuz\ninitramfs installer/initrd.img followkernel'), `${b.name}: config.txt`);
    check(text('cmdline.txt').includes(`kiln.node=${b.name} `), `${b.name}: cmdline.txt names another node`);
    check(/ kiln\.token=[0-9a-f]{64}(\s|$)/.test(text('cmdline.txt')), `${b.name}: cmdline.txt without an install token`);
    check(b.ranges.map((r) => r.status).join() === IMAGE_RANGES.map(() => 206).join(), `${b.name}: range statuses ${b.ranges.map((r) => r.status)}`);
    for (const r of b.ranges) check(r.sha256 === ranges.get(r.range), `${b.name} ${r.range}: other bytes`);
  }
  return out;
}
