// Pure boot planning: given what the registry knows about a node and what a client asked for,
// decide what to serve. No I/O here, so every branch is unit-tested.
import type { ImageInfo } from './images.js';
import { selfHealBlocked, type EventType, type NodeRecord } from './nodes/model.js';
import { bootScriptText, scriptImage } from './uboot.js';

/** OUIs of Raspberry Pi Ltd / Foundation network interfaces. */
const PI_OUIS = ['b8:27:eb', 'dc:a6:32', 'e4:5f:01', 'd8:3a:dd', '28:cd:c1', '2c:cf:67', '88:a2:9e'];

export interface DhcpClient {
  mac: string;
  serial?: string;
  /** FourCC from option 97 (`RPi4`, `RPi5`), when present. */
  fourcc?: string;
  vendorClass?: string;
}

export function isRaspberryPi(c: DhcpClient): boolean {
  return c.fourcc !== undefined || PI_OUIS.some((o) => c.mac.startsWith(o));
}

export function isPxeClient(c: DhcpClient): boolean {
  return c.vendorClass?.startsWith('PXEClient') ?? false;
}

export type DhcpMode = 'proxy' | 'full';

export type DhcpDecision =
  | { action: 'serve'; node: NodeRecord; image: ImageInfo; menu: string }
  /** A `local` node netbooting: its disk did not boot. Switch it to `install`, say why, then serve. */
  | { action: 'heal'; node: NodeRecord; image: ImageInfo; menu: string; reason: string }
  /** Park the node: reinstalling it would loop. */
  | { action: 'park'; node: NodeRecord; reason: string }
  /** Full mode: an address for a `local` node's own system, no boot options. */
  | { action: 'lease'; node: NodeRecord; menu: string }
  | { action: 'discover'; reason: string }
  | { action: 'ignore'; reason: string; node?: NodeRecord };

/**
 * Found by the serial in option 97, which every Pi broadcasts: a packet that names a node's serial
 * with another MAC than the node's is not that node (made-up MACs would each take a pool address,
 * and each would count as the node being seen).
 */
export function claimsOtherMac(node: NodeRecord, client: DhcpClient): boolean {
  return node.mac !== null && node.mac !== client.mac.toLowerCase();
}

/**
 * Whether to answer a DHCP client. Only nodes whose plan is `install` and whose image exists get an
 * answer; a `local` node is declined so it boots its own disk, unless it netboots anyway (PXE) with
 * self-healing on; unknown Pis are only recorded.
 */
export function decideDhcp(
  node: NodeRecord | undefined,
  client: DhcpClient,
  image: ImageInfo | undefined,
  opts: { mode: DhcpMode; discovery: boolean },
  /** The node's recent events, oldest first (self-healing looks at its last install). */
  history: readonly { type: EventType }[] = [],
): DhcpDecision {
  if (!node) {
    if (isRaspberryPi(client) && opts.discovery) return { action: 'discover', reason: 'unknown Raspberry Pi' };
    return { action: 'ignore', reason: 'unknown client' };
  }
  if (node.plan === 'discovered') return { action: 'ignore', reason: 'discovered, not registered', node };
  if (claimsOtherMac(node, client)) return { action: 'ignore', reason: `mac mismatch: ${node.name} has another MAC`, node };
  if (node.parked) return { action: 'ignore', reason: `parked: ${node.parked}`, node };
  if (node.plan === 'local') {
    // The Pi ROM and U-Boot both say PXEClient; a booted system's DHCP client does not. With
    // BOOT_ORDER 0xf21 a Pi only netboots when its SD card did not boot.
    if (isPxeClient(client) && (node.selfHeal ?? false) && image) {
      const blocked = selfHealBlocked(history);
      if (blocked) return { action: 'park', node, reason: blocked };
      return { action: 'heal', node, image, menu: menuFor(client), reason: `plan local but netbooting (${client.vendorClass ?? 'PXE'}): its disk did not boot` };
    }
    if (opts.mode === 'full' && !isPxeClient(client)) return { action: 'lease', node, menu: menuFor(client) };
    return { action: 'ignore', reason: 'plan local: boots its own disk', node };
  }
  // A proxy must not answer ordinary DHCP clients of the home network, only netbooting ones.
  if (opts.mode === 'proxy' && !isPxeClient(client)) return { action: 'ignore', reason: 'not a PXE client', node };
  if (!image) return { action: 'ignore', reason: `image ${node.image ?? '(none)'} not found`, node };
  return { action: 'serve', node, image, menu: menuFor(client) };
}

/** Pi 3B ROM matches the menu string with three trailing spaces; Pi 4/5 send option 97. */
function menuFor(client: DhcpClient): string {
  return client.fourcc === undefined && !client.serial ? 'Raspberry Pi Boot   ' : 'Raspberry Pi Boot';
}

// ---------------------------------------------------------------------------------------------
// TFTP

export const MAX_TFTP_PATH = 255;

export type PathCheck = { ok: true; segments: string[] } | { ok: false; reason: string };

/** Rejects anything that could leave the served roots or that no Pi or U-Boot would ask for. */
export function checkTftpPath(raw: string): PathCheck {
  if (raw.length === 0) return { ok: false, reason: 'empty path' };
  if (raw.length > MAX_TFTP_PATH) return { ok: false, reason: 'path too long' };
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(raw)) return { ok: false, reason: 'control character or backslash in path' };
  if (raw.startsWith('/')) return { ok: false, reason: 'absolute path' };
  const segments = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) return { ok: false, reason: 'parent directory in path' };
  if (segments.some((s) => s.startsWith('.'))) return { ok: false, reason: 'hidden file in path' };
  if (segments.length === 0) return { ok: false, reason: 'empty path' };
  return { ok: true, segments };
}

export interface TftpLookup {
  /** A node by TFTP prefix: Pi serial (8 hex digits) or MAC with dashes. */
  byPrefix(prefix: string): NodeRecord | undefined;
  byIp(ip: string): NodeRecord | undefined;
  imageOf(node: NodeRecord): ImageInfo | undefined;
  /** Image whose generic firmware answers prefix-less requests of unidentified Pis (Pi 3 ROM). */
  defaultImage(): ImageInfo | undefined;
}

export interface RenderContext {
  /** Base URL of kiln's HTTP server as the node reaches it, e.g. http://192.168.1.2:8080 */
  httpBase: string;
  /**
   * The node's one-use install token (kiln.token=): the installer trades it for the node's
   * credential, once. The command line travels over TFTP to whoever asks, so it carries nothing
   * else secret. Undefined when the node is not being installed.
   */
  installToken?: (node: NodeRecord) => string | undefined;
}

export type TftpPlan =
  | { kind: 'file'; root: string; rel: string[]; node?: NodeRecord }
  | { kind: 'render'; data: Buffer; node: NodeRecord }
  | { kind: 'refuse'; code: 'notfound' | 'denied'; reason: string };

const SERIAL_RE = /^[0-9a-f]{8}$/;
const MAC_DASH_RE = /^([0-9a-f]{2}-){5}[0-9a-f]{2}$/;
/** Files a Pi ROM fetches without a prefix before it knows its own (Pi 3 family). */
const PREFIXLESS_FIRMWARE = new Set(['bootcode.bin']);

export function planTftp(raw: string, clientIp: string, lookup: TftpLookup, ctx: RenderContext): TftpPlan {
  const check = checkTftpPath(raw);
  if (!check.ok) return { kind: 'refuse', code: 'denied', reason: check.reason };
  const segs = check.segments;
  const first = segs[0] ?? '';

  if (first === 'pxelinux.cfg') {
    if (segs.length !== 2) return { kind: 'refuse', code: 'notfound', reason: 'no such pxelinux file' };
    const name = segs[1] ?? '';
    const node = name.startsWith('01-') ? lookup.byPrefix(name.slice(3).toLowerCase()) : lookup.byIp(clientIp);
    return renderFor(node, (n, img) => renderPxelinux(n, img, ctx));
  }

  const key = first.toLowerCase();
  if (segs.length > 1 && (SERIAL_RE.test(key) || MAC_DASH_RE.test(key))) {
    const node = lookup.byPrefix(key);
    return nodeFile(node, segs.slice(1), lookup, ctx);
  }

  // No prefix: a node we can recognise by address gets its own files, others only generic firmware.
  const byIp = lookup.byIp(clientIp);
  if (byIp && byIp.plan === 'install') return nodeFile(byIp, segs, lookup, ctx);
  const dflt = lookup.defaultImage();
  if (segs.length === 1 && PREFIXLESS_FIRMWARE.has(first) && dflt) return { kind: 'file', root: dflt.bootDir, rel: segs };
  return { kind: 'refuse', code: 'notfound', reason: 'not a node path' };

  function renderFor(node: NodeRecord | undefined, render: (n: NodeRecord, img: ImageInfo) => string): TftpPlan {
    if (!node) return { kind: 'refuse', code: 'notfound', reason: 'unknown node' };
    const refused = notServed(node);
    if (refused) return refused;
    const img = lookup.imageOf(node);
    if (!img) return { kind: 'refuse', code: 'notfound', reason: 'image not found' };
    return { kind: 'render', data: Buffer.from(render(node, img)), node };
  }
}

/** Why a known node gets no boot files: not to be installed, or parked (reinstalling would loop). */
function notServed(node: NodeRecord): TftpPlan | undefined {
  if (node.plan !== 'install') return { kind: 'refuse', code: 'notfound', reason: `plan ${node.plan}` };
  if (node.parked) return { kind: 'refuse', code: 'notfound', reason: `parked: ${node.parked}` };
  return undefined;
}

function nodeFile(node: NodeRecord | undefined, rest: string[], lookup: TftpLookup, ctx: RenderContext): TftpPlan {
  if (!node) return { kind: 'refuse', code: 'notfound', reason: 'unknown node' };
  const refused = notServed(node);
  if (refused) return refused;
  const img = lookup.imageOf(node);
  if (!img) return { kind: 'refuse', code: 'notfound', reason: 'image not found' };
  const path = rest.join('/');
  if (path === 'boot.scr.uimg' || path === 'boot.scr') {
    return { kind: 'render', data: scriptImage(bootScriptText(node), `kiln ${node.name}`), node };
  }
  if (path === 'config.txt') return { kind: 'render', data: Buffer.from(renderConfigTxt(img)), node };
  if (path === 'cmdline.txt') return { kind: 'render', data: Buffer.from(`${renderCmdline(node, img, ctx)}\n`), node };
  if (rest[0] === 'installer') {
    if (!img.installerDir) return { kind: 'refuse', code: 'notfound', reason: 'image has no installer' };
    return { kind: 'file', root: img.installerDir, rel: rest.slice(1), node };
  }
  return { kind: 'file', root: img.bootDir, rel: rest, node };
}

// ---------------------------------------------------------------------------------------------
// Rendering of per-node boot files

const CGROUP_ARGS = ['cgroup_memory=1', 'cgroup_enable=memory'];

export function imageUrls(img: ImageInfo, ctx: RenderContext): { zst: string; bmap: string; img: string } {
  const base = `${ctx.httpBase}/images/${encodeURIComponent(img.name)}`;
  return { img: `${base}/${img.files.img}`, zst: `${base}/${img.files.zst}`, bmap: `${base}/${img.files.bmap}` };
}

/**
 * The node's kernel command line: the image's generic arguments and the cgroup flags k3s needs,
 * and, when the image has an installer, what the installer needs to write the disk. No seed URL:
 * the seed needs the node's credential, which the installer gets by enrolling and leaves on the
 * disk; an image without an installer gets no seed over the network.
 */
export function renderCmdline(node: NodeRecord, img: ImageInfo, ctx: RenderContext, base: string = img.cmdline): string {
  const drop = (t: string): boolean =>
    t.startsWith('root=') || t.startsWith('ds=') || t.startsWith('kiln.') || t.startsWith('cgroup_') || t === 'ip=dhcp';
  const all = base.split(/\s+/).filter((t) => t !== '' && !drop(t));
  if (img.installerDir) {
    // The installer needs only the console of the image's arguments. U-Boot 2023.01's pxe copies
    // `append` into a 512-byte buffer and refuses longer lines ("bootarg overflow").
    const args = all.filter((t) => t.startsWith('console=') || t.startsWith('earlycon'));
    const u = imageUrls(img, ctx);
    args.push(
      `kiln.node=${node.name}`,
      // the raw image: the installer takes only the bmap's mapped ranges of it (Range requests)
      `kiln.image=${u.img}`,
      `kiln.bmap=${u.bmap}`,
      `kiln.sha256=${img.sha256}`,
      `kiln.events=${ctx.httpBase}/api/nodes/${node.name}/events`,
    );
    // Without it the installer takes the first SD, NVMe, USB, virtio disk: wrong for a Pi that
    // boots from NVMe or USB with a card still in the slot.
    if (node.disk) args.push(`kiln.disk=${node.disk}`);
    const token = ctx.installToken?.(node);
    if (token) args.push(`kiln.token=${token}`);
    return args.join(' ');
  }
  return [`root=PARTUUID=${img.diskId}-02`, ...all, ...CGROUP_ARGS].join(' ');
}

/** U-Boot 2023.01 (CONFIG_SYS_CBSIZE on qemu_arm64 and the Pi builds) takes at most this much `append`. */
export const UBOOT_APPEND_MAX = 511;

/** The image's config.txt; with an installer, its kernel and initramfs replace the image's. */
export function renderConfigTxt(img: ImageInfo): string {
  const base = img.configTxt.endsWith('\n') || img.configTxt === '' ? img.configTxt : `${img.configTxt}\n`;
  if (!img.installerDir) return base;
  const kept = base
    .split('\n')
    .filter((l) => !/^\s*(kernel|initramfs|auto_initramfs)\b/.test(l))
    .join('\n');
  return `${kept.trimEnd()}\n\n# kiln: netboot the installer\n[all]\nkernel=installer/vmlinuz\ninitramfs installer/initrd.img followkernel\n`;
}

export function macDashes(mac: string): string {
  return mac.toLowerCase().replaceAll(':', '-');
}

/** U-Boot `pxe get` config for the same plan as the Pi firmware path. */
export function renderPxelinux(node: NodeRecord, img: ImageInfo, ctx: RenderContext): string {
  const prefix = node.mac ? macDashes(node.mac) : (node.serial ?? node.name);
  const dir = img.installerDir ? `${prefix}/installer` : prefix;
  return [
    `# kiln: ${node.name} (${img.name})`,
    'default kiln',
    'label kiln',
    `  kernel ${dir}/vmlinuz`,
    `  initrd ${dir}/initrd.img`,
    // U-Boot boards take the image's extlinux arguments (e.g. console=ttyAMA0), not the Pi's cmdline.txt.
    `  append ${renderCmdline(node, img, ctx, img.ubootCmdline ?? img.cmdline)}`,
    '',
  ].join('\n');
}
