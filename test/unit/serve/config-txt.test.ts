import { describe, expect, it } from 'vitest';
import { configLineProblem, MAX_CONFIG_LINES } from '../../../src/serve/nodes/config-txt.js';
import { nodeSettingsSchema } from '../../../src/serve/nodes/model.js';
import { firstIssue } from '../../../src/util/errors.js';

const problem = (lines: unknown[]): string | undefined => {
  const r = nodeSettingsSchema.safeParse({ configTxt: lines });
  return r.success ? undefined : firstIssue(r.error);
};

describe('per-node config.txt lines', () => {
  it('takes settings, section filters and comments', () => {
    for (const line of [
      'dtoverlay=disable-wifi',
      'dtparam=audio=off',
      'dtoverlay=vc4-kms-v3d,cma-512',
      'gpu_mem=16',
      'hdmi_force_hotplug',
      'hdmi_cvt=1024 600 60 6 0 0 0',
      'enable_uart=1',
      '[all]',
      '[none]',
      '[pi4]',
      '[pi3+]',
      '[pi5]',
      '[cm4]',
      '[board-type=0x17]',
      '# added for the lab rack',
    ]) {
      expect(configLineProblem(line), line).toBeUndefined();
    }
  });

  it('refuses what decides the netboot, reaches outside the per-node file or writes OTP, saying why', () => {
    for (const [line, why] of [
      ['kernel=other.img', /kernel is refused: kiln chooses the kernel/],
      ['KERNEL=other.img', /kernel is refused/],
      ['initramfs', /initramfs is refused/],
      ['auto_initramfs=1', /auto_initramfs is refused/],
      ['cmdline=other.txt', /cmdline is refused: kiln renders the kernel command line/],
      ['os_prefix=old/', /os_prefix is refused: .*another directory/],
      ['overlay_prefix=x/', /overlay_prefix is refused/],
      ['include=extra.txt', /include is refused: would read another file/],
      ['include', /include is refused/],
      ['boot_partition=3', /boot_partition is refused/],
      ['device_tree=other.dtb', /device_tree is refused/],
      ['arm_64bit=0', /arm_64bit is refused/],
      ['start_file=start_x.elf', /start_file is refused/],
      ['program_usb_boot_mode=1', /program_usb_boot_mode is refused: writes the board's OTP/],
      ['otp_write=1', /OTP/],
      ['dtoverlay=../../etc/x', /"\.\." could name a file outside/],
    ] as const) {
      expect(configLineProblem(line), line).toMatch(why);
    }
  });

  it('refuses what is not the conservative syntax: a bare initramfs line, spaces around =, control characters, odd sections', () => {
    for (const line of [
      'initramfs initrd.img followkernel',
      'gpu_mem = 16',
      ' gpu_mem=16',
      'gpu_mem=16\nkernel=x',
      'gpu_mem=16\r',
      'dtoverlay=caf\u00e9',
      '[pi4] # comment',
      '[tryboot]',
      '[EDID=VSC-TD2220]',
      '',
      '=1',
    ]) {
      expect(configLineProblem(line), JSON.stringify(line)).toMatch(/is not a config.txt line kiln takes/);
    }
    expect(configLineProblem(`dtparam=${'x'.repeat(200)}`)).toMatch(/at most 200/);
  });

  it('names the line index and why in the schema error, and bounds the count', () => {
    expect(problem(['dtoverlay=disable-wifi', 'kernel=evil.img'])).toMatch(/^configTxt\.1: kernel is refused: /);
    expect(problem(['dtoverlay=disable-wifi', 'gpu_mem=16', 'x y'])).toMatch(/^configTxt\.2: "x y" is not a config.txt line/);
    expect(problem([1])).toMatch(/^configTxt\.0: /);
    expect(problem(Array.from({ length: MAX_CONFIG_LINES }, () => 'gpu_mem=16'))).toBeUndefined();
    expect(problem(Array.from({ length: MAX_CONFIG_LINES + 1 }, () => 'gpu_mem=16'))).toMatch(/^configTxt: at most 32 lines/);
  });

  it('settings are strict: an unknown field or a partition as disk is named', () => {
    const first = (body: unknown): string => {
      const r = nodeSettingsSchema.safeParse(body);
      return r.success ? 'accepted' : firstIssue(r.error);
    };
    expect(first({ disk: 'sda1' })).toMatch(/^disk: is a partition/);
    expect(first({ selfHeal: 'yes' })).toMatch(/^selfHeal: /);
    expect(first({ plan: 'install' })).toMatch(/plan/);
    expect(nodeSettingsSchema.parse({ disk: '/dev/nvme0n1' })).toEqual({ disk: 'nvme0n1' });
    expect(nodeSettingsSchema.parse({ disk: null })).toEqual({ disk: null });
    expect(nodeSettingsSchema.parse({})).toEqual({});
  });
});
