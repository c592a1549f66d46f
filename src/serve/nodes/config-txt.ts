import { z } from 'zod';

// The operator's own config.txt lines for one node (PATCH /api/nodes/:name `configTxt`). kiln
// appends them to the config.txt it renders for that node over TFTP, which the Pi firmware reads
// before anything else runs: a wrong line there can stop the netboot, load a file kiln never
// vetted, or write the board's OTP for good. So only a conservative subset of the syntax is taken
// (no quoting, no includes, no paths), and the settings that decide what the firmware boots are
// refused with the reason. Pure.

export const MAX_CONFIG_LINES = 32;
export const MAX_CONFIG_LINE = 200;

/** `key=value` or a bare `key`; printable ASCII only, so nothing can start another line. */
const SETTING_RE = /^([A-Za-z0-9_]+)(=[ -~]*)?$/;
/** Conditional sections: every board, none, a model (`[pi4]`, `[pi3+]`, `[cm5]`), a board type. */
const SECTION_RE = /^\[(all|none|(pi|cm)[0-9][0-9a-z+]{0,5}|board-type=0x[0-9a-fA-F]{1,8})\]$/;
const COMMENT_RE = /^#[ -~]*$/;

/**
 * Settings kiln decides itself, or that reach outside the per-node file, by key (lowercase).
 * `initramfs` is a bare word with arguments (`initramfs file followkernel`); its key-only form
 * would still pass SETTING_RE, hence its entry.
 */
const REFUSED: Readonly<Record<string, string>> = {
  kernel: "kiln chooses the kernel (the installer's when it installs); a different one would not netboot",
  kernel_address: 'moves where the kernel kiln serves is loaded',
  kernel_old: 'changes how the kernel kiln serves is loaded',
  initramfs: "kiln chooses the initramfs (the installer's when it installs)",
  auto_initramfs: "kiln chooses the initramfs (the installer's when it installs)",
  ramfsfile: "kiln chooses the initramfs (the installer's when it installs)",
  ramfsaddr: 'moves where the initramfs kiln serves is loaded',
  initramfs_addr: 'moves where the initramfs kiln serves is loaded',
  cmdline: 'kiln renders the kernel command line (with the install token); another file would drop it',
  os_prefix: 'would make the firmware fetch its files from another directory than the node',
  overlay_prefix: 'would make the firmware fetch overlays from another directory than the node',
  include: 'would read another file into the per-node config.txt',
  boot_partition: 'would boot another partition than the one kiln serves',
  device_tree: 'kiln serves the device tree of the image; another one may not match its kernel',
  device_tree_address: 'moves where the device tree is loaded',
  device_tree_end: 'moves where the device tree is loaded',
  arm_64bit: 'the image and the installer are 64-bit; changing it stops the boot',
  upstream_kernel: 'changes which device trees the firmware takes from the image',
  start_file: 'kiln serves the firmware of the image; another start file may not exist',
  fixup_file: 'kiln serves the firmware of the image; another fixup file may not exist',
  start_x: 'selects firmware files the image may not have',
  start_debug: 'selects firmware files the image may not have',
  start_cd: 'selects firmware files the image may not have',
  start_db: 'selects firmware files the image may not have',
  tryboot_a_b: 'changes which partition the firmware boots',
};

/** Families refused by prefix: both write the board's one-time-programmable memory, for good. */
const REFUSED_PREFIXES: readonly [string, string][] = [
  ['program_', "writes the board's OTP memory, which cannot be undone"],
  ['otp_', "writes the board's OTP memory, which cannot be undone"],
];

/** Why the line is refused, or undefined when kiln takes it. */
export function configLineProblem(line: string): string | undefined {
  if (line.length > MAX_CONFIG_LINE) return `is ${line.length} characters long; at most ${MAX_CONFIG_LINE}`;
  if (SECTION_RE.test(line) || COMMENT_RE.test(line)) return undefined;
  const m = SETTING_RE.exec(line);
  if (!m?.[1]) {
    return `"${line.slice(0, 40)}" is not a config.txt line kiln takes: key=value (key of letters, digits and _, value of printable ASCII), a section filter like [all], [pi4], [cm5], or a # comment`;
  }
  const key = m[1].toLowerCase();
  const why = REFUSED[key] ?? REFUSED_PREFIXES.find(([p]) => key.startsWith(p))?.[1];
  if (why) return `${key} is refused: ${why}`;
  // A value could still name a file outside the node's directory (dtoverlay=../x).
  if (m[2]?.includes('..')) return `${key}: a value with ".." could name a file outside the node's directory`;
  return undefined;
}

export const configLineSchema = z.string().superRefine((line, ctx) => {
  const problem = configLineProblem(line);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** The node's lines, in order; the path of a refusal names the line (`configTxt.3: …`). */
export const configTxtSchema = z.array(configLineSchema).max(MAX_CONFIG_LINES, `at most ${MAX_CONFIG_LINES} lines`);
