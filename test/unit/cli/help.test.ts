import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../../src/cli/index.js';

// commander wraps help text to the terminal itself: a line break inside a sentence shows as a
// fragment on a line of its own ("(MBR: FAT32 boot," alone). Paragraph breaks are fine.
const hardBreak = /[^\n]\n[^\n]/;

function commands(c: Command): Command[] {
  return [c, ...c.commands.flatMap(commands)];
}

describe('--help texts', () => {
  it('carry no line break inside a sentence (commands, options, arguments)', async () => {
    const found: string[] = [];
    for (const c of commands(await buildProgram())) {
      const texts: [string, string][] = [
        [`${c.name()} description`, c.description()],
        [`${c.name()} summary`, c.summary()],
        ...c.options.map((o): [string, string] => [`${c.name()} ${o.flags}`, o.description]),
        ...c.registeredArguments.map((a): [string, string] => [`${c.name()} <${a.name()}>`, a.description]),
      ];
      for (const [where, text] of texts) if (hardBreak.test(text)) found.push(where);
    }
    expect(found).toEqual([]);
  });

  it('wraps to the terminal width', async () => {
    const program = await buildProgram();
    const build = program.commands.find((c) => c.name() === 'build');
    expect(build).toBeDefined();
    build?.configureOutput({ getOutHelpWidth: () => 80 });
    const lines = build?.helpInformation().split('\n') ?? [];
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.filter((l) => l.length > 80)).toEqual([]);
  });
});
