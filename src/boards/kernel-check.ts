// Whether a kernel has what each target board needs. Pure: the facts come from the kernel's own
// packages (src/builder/kernel-facts.ts reads them), never from a table of versions.

import { type BoardName, COMMON_MODULES, boardsOf, moduleAlternatives } from './catalog.js';

export interface KernelFacts {
  /** The kernel release, e.g. 7.3.4+deb13-arm64. */
  version: string;
  /** The packages the facts were read from. */
  packages: string[];
  /** CONFIG_X=y|m from the kernel's config, without the CONFIG_ prefix. */
  options: Record<string, 'y' | 'm'>;
  /** Loadable module names (`-` folded to `_`). */
  modules: string[];
  /** Module names compiled in (modules.builtin). */
  builtin: string[];
  /** Device tree file names in the kernel's broadcom/ directory. */
  dtbs: string[];
}

export interface BoardShortfall {
  board: BoardName;
  options: string[];
  modules: string[];
  dtbs: string[];
}

/** What each listed board needs and the kernel lacks; empty when every board is served. */
export function checkKernel(facts: KernelFacts, boards: readonly BoardName[]): BoardShortfall[] {
  const modules = new Set([...facts.modules, ...facts.builtin]);
  const dtbs = new Set(facts.dtbs);
  const out: BoardShortfall[] = [];
  for (const b of boardsOf(boards)) {
    const needed = [...b.modules, ...COMMON_MODULES].flatMap((g) => g.modules);
    const short: BoardShortfall = {
      board: b.name,
      options: b.kernelOptions.filter((o) => facts.options[o] === undefined),
      modules: [...new Set(needed.filter((m) => !moduleAlternatives(m).some((a) => modules.has(a))))],
      dtbs: b.dtbs.filter((d) => !dtbs.has(d)),
    };
    if (short.options.length + short.modules.length + short.dtbs.length > 0) out.push(short);
  }
  return out;
}

export function describeShortfall(facts: KernelFacts, short: readonly BoardShortfall[]): string {
  const lines = short.map((s) => {
    const parts = [
      s.options.length ? `kernel options not set: ${s.options.map((o) => `CONFIG_${o}`).join(', ')}` : '',
      s.modules.length ? `no module: ${s.modules.map((m) => m.replaceAll('|', ' or ')).join(', ')}` : '',
      s.dtbs.length ? `no device tree: ${s.dtbs.join(', ')}` : '',
    ].filter((p) => p !== '');
    return `  - ${s.board}: ${parts.join('; ')}`;
  });
  return `kernel ${facts.version} (${facts.packages.join(', ')}) lacks what these boards need:\n${lines.join('\n')}`;
}

/** `CONFIG_MACB=m` lines → { MACB: 'm' }; `is not set` and other values are left out. */
export function parseKernelConfig(text: string): Record<string, 'y' | 'm'> {
  const out: Record<string, 'y' | 'm'> = {};
  for (const line of text.split('\n')) {
    const m = /^CONFIG_([A-Za-z0-9_]+)=([ym])$/.exec(line.trim());
    if (m?.[1] && (m[2] === 'y' || m[2] === 'm')) out[m[1]] = m[2];
  }
  return out;
}
