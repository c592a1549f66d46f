import { execa, type ResultPromise } from 'execa';

// The QEMU arm64 "virt" machine the netboot tests boot: U-Boot as its firmware, one NIC on a tap
// device inside a network namespace (the test's provisioning segment), the serial console on
// stdio. Both the U-Boot test and the end-to-end reprovision start it this way.

export interface VirtMachine {
  ns: string;
  /** U-Boot for QEMU (`u-boot-qemu`'s u-boot.bin). */
  firmware: string;
  mac: string;
  cpu: string;
  memoryMiB: number;
  cpus?: number;
  /** A raw disk image as a virtio disk. */
  disk?: string;
}

/** Starts the machine; its console (stdout and stderr) is `all`. It stops at a reboot (-no-reboot). */
export function startVirtMachine(m: VirtMachine): ResultPromise<{ reject: false; stdin: 'pipe'; all: true }> {
  const machine = ['-M', 'virt', '-cpu', m.cpu, '-smp', String(m.cpus ?? 1), '-m', String(m.memoryMiB), '-nographic', '-no-reboot', '-bios', m.firmware];
  const disk = m.disk ? ['-drive', `if=none,file=${m.disk},format=raw,id=d0`, '-device', 'virtio-blk-device,drive=d0'] : [];
  const nic = ['-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no', '-device', `virtio-net-device,netdev=n0,mac=${m.mac}`];
  return execa('ip', ['netns', 'exec', m.ns, 'qemu-system-aarch64', ...machine, ...disk, ...nic], { reject: false, stdin: 'pipe', all: true });
}
