import { describe, expect, it } from 'vitest';
import { ElfHead, elfMachine, hostArchOf, hostPaths } from '../../../src/builder/guards/host-arch.js';

/** The first 20 bytes of an ELF header: class, data (1 = little endian) and e_machine. */
function elf(machine: number, bigEndian = false): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2;
  b[5] = bigEndian ? 2 : 1;
  if (bigEndian) b.writeUInt16BE(machine, 18);
  else b.writeUInt16LE(machine, 18);
  return b;
}

describe('host-arch guard', () => {
  it('reads e_machine in either byte order', () => {
    expect(elfMachine(elf(183))).toBe(183);
    expect(elfMachine(elf(62, true))).toBe(62);
    expect(elfMachine(Buffer.from('#!/bin/sh\necho not elf\n'))).toBeUndefined();
    expect(elfMachine(elf(62).subarray(0, 10))).toBeUndefined();
  });

  it('names x86-64 and i386 and passes arm64 and firmware ELF', () => {
    expect(hostArchOf(elf(62))).toBe('x86-64');
    expect(hostArchOf(elf(3))).toBe('i386');
    expect(hostArchOf(elf(183))).toBeUndefined(); // aarch64
    expect(hostArchOf(elf(40))).toBeUndefined(); // 32-bit ARM (Pi firmware helpers)
  });

  it('reads the header across the chunks of a streamed file', () => {
    const head = new ElfHead();
    const bytes = Buffer.concat([elf(62), Buffer.alloc(100)]);
    for (let i = 0; i < bytes.length; i += 7) head.push(bytes.subarray(i, i + 7));
    expect(head.hostArch()).toBe('x86-64');
    const short = new ElfHead();
    short.push(Buffer.from('#!'));
    expect(short.hostArch()).toBeUndefined();
  });

  it('flags the directories only a build host has', () => {
    const found = hostPaths(
      [
        '/usr/lib/aarch64-linux-gnu/libc.so.6',
        '/usr/lib/x86_64-linux-gnu/libkmod.so.2',
        '/lib64',
        '/usr/lib64/ld-linux-x86-64.so.2',
        '/.kiln-native',
        '/usr/share/doc/x86_64-notes',
      ].map((path) => ({ path })),
    ).map((f) => f.where);
    expect(found).toEqual(['/usr/lib/x86_64-linux-gnu/libkmod.so.2', '/lib64', '/usr/lib64/ld-linux-x86-64.so.2', '/.kiln-native']);
  });
});
