import { readFileSync } from 'node:fs';

const CAP_NET_BIND_SERVICE = 10;

/** Whether this process may bind ports below 1024 (root, or CAP_NET_BIND_SERVICE in effect). */
export function canBindLowPorts(): boolean {
  if (process.getuid?.() === 0) return true;
  try {
    const line = readFileSync('/proc/self/status', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('CapEff:'));
    if (!line) return false;
    const eff = BigInt(`0x${line.split(/\s+/)[1] ?? '0'}`);
    return (eff & (1n << BigInt(CAP_NET_BIND_SERVICE))) !== 0n;
  } catch {
    return false;
  }
}

export function lowPortError(what: string, port: number): Error {
  return new Error(
    `${what} needs port ${port}, which needs root or CAP_NET_BIND_SERVICE ` +
      `(e.g. sudo setcap cap_net_bind_service=+ep $(command -v node)), or choose another port`,
  );
}
