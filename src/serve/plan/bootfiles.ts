// The per-node boot files kiln renders rather than serves from the image: cmdline.txt,
// config.txt, U-Boot's pxelinux.cfg and boot script. Pure: the install token comes in as a value,
// issued by the caller (issuing it starts its lifetime in the registry).
import type { ImageInfo } from '../images.js';
import type { NodeRecord } from '../nodes/model.js';
import { bootScriptText, scriptImage } from './uboot.js';

export type BootFile = 'cmdline.txt' | 'config.txt' | 'pxelinux.cfg' | 'boot.scr';

export interface RenderContext {
  /** Base URL of kiln's HTTP server as the node reaches it, e.g. http://192.168.1.2:8080 */
  httpBase: string;
  /**
   * The node's one-use install token (kiln.token=): the installer trades it for the node's
   * credential, once. The command line travels over TFTP to whoever asks, so it carries nothing
   * else secret. Undefined when the node is not being installed.
   */
  installToken?: string;
}

/** Whether rendering `file` puts the install token in it: only an installer's command line does. */
export function carriesInstallToken(file: BootFile, img: ImageInfo): boolean {
  return (file === 'cmdline.txt' || file === 'pxelinux.cfg') && Boolean(img.installerDir);
}

export function renderBootFile(file: BootFile, node: NodeRecord, img: ImageInfo, ctx: RenderContext): Buffer {
  switch (file) {
    case 'cmdline.txt':
      return Buffer.from(`${renderCmdline(node, img, ctx)}\n`);
    case 'config.txt':
      return Buffer.from(renderConfigTxt(img, node.configTxt ?? []));
    case 'pxelinux.cfg':
      return Buffer.from(renderPxelinux(node, img, ctx));
    case 'boot.scr':
      return scriptImage(bootScriptText(node), `kiln ${node.name}`);
  }
}

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
  const drop = (t: string): boolean => t.startsWith('root=') || t.startsWith('ds=') || t.startsWith('kiln.') || t.startsWith('cgroup_') || t === 'ip=dhcp';
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
    if (ctx.installToken) args.push(`kiln.token=${ctx.installToken}`);
    return args.join(' ');
  }
  return [`root=PARTUUID=${img.diskId}-02`, ...all, ...CGROUP_ARGS].join(' ');
}

/** U-Boot 2023.01 (CONFIG_SYS_CBSIZE on qemu_arm64 and the Pi builds) takes at most this much `append`. */
export const UBOOT_APPEND_MAX = 511;

/**
 * The image's config.txt; with an installer, its kernel and initramfs replace the image's where
 * they stand, so each board section the image has keeps gating its board (a board the image was not
 * built for still finds no kernel). An image whose config names no kernel gets them for [all].
 * The node's own lines (checked by nodes/config-txt.ts) come last.
 */
export function renderConfigTxt(img: ImageInfo, nodeLines: readonly string[] = []): string {
  const text = imageConfigTxt(img);
  if (nodeLines.length === 0) return text;
  // After [all]: the image's last board section ([pi5] ...) would otherwise gate them too.
  return `${text}\n# kiln: this node's own lines\n[all]\n${nodeLines.join('\n')}\n`;
}

function imageConfigTxt(img: ImageInfo): string {
  const base = img.configTxt.endsWith('\n') || img.configTxt === '' ? img.configTxt : `${img.configTxt}\n`;
  if (!img.installerDir) return base;
  const lines = base.split('\n').filter((l) => !/^\s*auto_initramfs\b/.test(l));
  let replaced = false;
  const out = lines.map((l) => {
    if (/^\s*kernel\s*=/.test(l)) {
      replaced = true;
      return 'kernel=installer/vmlinuz';
    }
    return /^\s*initramfs\b/.test(l) ? 'initramfs installer/initrd.img followkernel' : l;
  });
  const text = `${out.join('\n').trimEnd()}\n`;
  return replaced ? text : `${text}\n# kiln: netboot the installer\n[all]\nkernel=installer/vmlinuz\ninitramfs installer/initrd.img followkernel\n`;
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
