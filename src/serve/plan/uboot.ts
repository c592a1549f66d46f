import { crc32 } from 'node:zlib';
import type { NodeRecord } from '../nodes/model.js';

// U-Boot's distro boot fetches `boot.scr.uimg` right after DHCP. kiln answers with a script that
// runs the node's pxelinux.cfg (the same plan the Pi firmware path gets). Pure.

const IH_MAGIC = 0x27051956;
const IH_OS_LINUX = 5;
const IH_ARCH_ARM64 = 22;
const IH_TYPE_SCRIPT = 6;
const IH_COMP_NONE = 0;

export function bootScriptText(node: NodeRecord): string {
  return [`echo "kiln: netboot plan for ${node.name}"`, 'if pxe get; then pxe boot; fi', ''].join('\n');
}

/**
 * Wraps a script in the legacy uImage format `mkimage -T script` writes: a 64-byte big-endian
 * header, then a length table (one entry, zero-terminated) and the script. Timestamp 0 so the
 * bytes depend only on the script.
 */
export function scriptImage(script: string, name: string): Buffer {
  const text = Buffer.from(script, 'utf8');
  const data = Buffer.alloc(8 + text.length);
  data.writeUInt32BE(text.length, 0);
  data.writeUInt32BE(0, 4);
  text.copy(data, 8);
  const h = Buffer.alloc(64);
  h.writeUInt32BE(IH_MAGIC, 0);
  h.writeUInt32BE(0, 4); // header CRC, filled below
  h.writeUInt32BE(0, 8); // timestamp
  h.writeUInt32BE(data.length, 12);
  h.writeUInt32BE(0, 16); // load address
  h.writeUInt32BE(0, 20); // entry point
  h.writeUInt32BE(crc32(data) >>> 0, 24);
  h.writeUInt8(IH_OS_LINUX, 28);
  h.writeUInt8(IH_ARCH_ARM64, 29);
  h.writeUInt8(IH_TYPE_SCRIPT, 30);
  h.writeUInt8(IH_COMP_NONE, 31);
  Buffer.from(name, 'latin1').subarray(0, 31).copy(h, 32);
  h.writeUInt32BE(crc32(h) >>> 0, 4);
  return Buffer.concat([h, data]);
}
