// Classifies a datagram arriving on the TFTP listening port the way the `tftp` library will treat
// it, so the refusals the library answers on its own are still counted and logged. Pure.

export const OPCODES = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

export type Precheck = { ok: true } | { ok: false; reason: 'malformed' | 'bad-opcode' | 'write-denied'; detail: string };

export function precheckTftp(msg: Buffer): Precheck {
  // 2 opcode + 1 filename char + NUL + "mail" + NUL is the shortest valid request; 512 the longest.
  if (msg.length < 9 || msg.length > 512) return { ok: false, reason: 'malformed', detail: `length ${msg.length}` };
  const op = msg.readUInt16BE(0);
  if (op === OPCODES.WRQ) return { ok: false, reason: 'write-denied', detail: 'write request' };
  if (op !== OPCODES.RRQ) return { ok: false, reason: 'bad-opcode', detail: `opcode ${op}` };
  const nameEnd = msg.indexOf(0, 2);
  if (nameEnd === -1) return { ok: false, reason: 'malformed', detail: 'filename not terminated' };
  const modeEnd = msg.indexOf(0, nameEnd + 1);
  if (modeEnd === -1) return { ok: false, reason: 'malformed', detail: 'mode not terminated' };
  const mode = msg.subarray(nameEnd + 1, modeEnd).toString('latin1').toLowerCase();
  if (mode !== 'octet' && mode !== 'netascii' && mode !== 'mail') return { ok: false, reason: 'malformed', detail: `mode ${mode}` };
  const name = msg.subarray(2, nameEnd).toString('latin1');
  // The library refuses these before we see the request.
  if (name.split('/').includes('..')) return { ok: false, reason: 'malformed', detail: 'parent directory in path' };
  if ([...msg.subarray(2, nameEnd)].some((b) => b > 0x7f)) return { ok: false, reason: 'malformed', detail: 'non-ASCII filename' };
  return { ok: true };
}
