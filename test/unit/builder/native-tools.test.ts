import { describe, expect, it } from 'vitest';
import { KEEP_EMULATED, NATIVE_TOOL_PACKAGES, relocateInterpreter, retargetArchitecture, sourceVersion } from '../../../src/builder/native/tools.js';
import { must } from '../../helpers/must.js';

describe('native tool set', () => {
  it('treats a binNMU as the same source build, and nothing else', () => {
    expect(sourceVersion('3.11-4+b1')).toBe('3.11-4');
    expect(sourceVersion('3.11-4')).toBe('3.11-4');
    expect(sourceVersion('1:2.41.5-0+deb13u1')).toBe('1:2.41.5-0+deb13u1');
    expect(sourceVersion('2.41-12+deb13u5')).not.toBe(sourceVersion('2.41-12+deb13u4'));
  });

  it('keeps the architecture-answering programs emulated and locks no apt', () => {
    for (const p of ['ldconfig', 'ldd', 'uname', 'arch']) expect(KEEP_EMULATED.has(p)).toBe(true);
    expect(NATIVE_TOOL_PACKAGES).toContain('dpkg');
    expect(NATIVE_TOOL_PACKAGES).not.toContain('apt');
  });
});

describe('retargetArchitecture', () => {
  const program = Buffer.from('\x7fELF....dpkg 1.22 (amd64)\0....amd64\0....', 'latin1');

  it('rewrites the one NUL-terminated name and leaves the version text alone', () => {
    const out = must(retargetArchitecture(program, 'amd64', 'arm64'), 'the retargeted program');
    expect(out.length).toBe(program.length);
    expect(out.toString('latin1')).toBe('\x7fELF....dpkg 1.22 (amd64)\0....arm64\0....');
    expect(program.toString('latin1')).toContain('amd64\0....'); // the input is not changed
  });

  it('says when there is nothing to rewrite', () => {
    expect(retargetArchitecture(Buffer.from('no arch here'), 'amd64', 'arm64')).toBeUndefined();
  });

  it('refuses an ambiguous program and names of another length', () => {
    expect(() => retargetArchitecture(Buffer.from('amd64\0amd64\0', 'latin1'), 'amd64', 'arm64')).toThrow(/more than one/);
    expect(() => retargetArchitecture(program, 'amd64', 'riscv64')).toThrow(/differ in length/);
  });
});

describe('relocateInterpreter', () => {
  const from = '/lib64/ld-linux-x86-64.so.2';
  const program = Buffer.concat([Buffer.from('\x7fELF..'), Buffer.from(`${from}\0`), Buffer.from('..rest')]);

  it('writes the new path over the old one, NUL-padded, keeping every offset', () => {
    const out = relocateInterpreter(program, from, '/.kiln-native/lib64/ld.so.2');
    expect(out.length).toBe(program.length);
    expect(out.toString('latin1')).toContain('/.kiln-native/lib64/ld.so.2\0..rest');
    const shorter = relocateInterpreter(program, from, '/x/ld.so');
    expect(shorter.toString('latin1')).toContain(`/x/ld.so${'\0'.repeat(from.length - 8 + 1)}..rest`);
  });

  it('refuses a longer path and a program without that interpreter', () => {
    expect(() => relocateInterpreter(program, from, `${from}-longer`)).toThrow(/longer/);
    expect(() => relocateInterpreter(Buffer.from('#!/bin/sh\n'), from, '/x')).toThrow(/does not name/);
  });
});
