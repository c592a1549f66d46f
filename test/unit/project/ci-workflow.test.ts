import { readFileSync } from 'node:fs';
import { validateWorkflow } from '@action-validator/core';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildProgram } from '../../../src/cli/index.js';

// docs/ci.md's workflow is meant to be copied as it is: it must be a workflow GitHub accepts
// (SchemaStore's schema, as action-validator checks it) and every kiln command in it must be one
// kiln runs (the command exists and takes each option given).

const MARK = '<!-- kiln:workflow -->';

function workflowOf(markdown: string): string {
  const at = markdown.indexOf(MARK);
  const m = /```yaml\n([\s\S]*?)```/.exec(markdown.slice(at));
  if (at < 0 || !m?.[1]) throw new Error(`docs/ci.md has no \`\`\`yaml block after ${MARK}`);
  return m[1];
}

/** Shell words of one command line: enough for the lines a workflow holds (quotes, no expansion). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
}

/** Each `kiln …` invocation in the workflow's run steps (as `node bin/kiln.js …`, `npx kiln …`). */
function kilnCalls(workflow: string): string[][] {
  const doc = parse(workflow) as { jobs: Record<string, { steps: { run?: string }[] }> };
  const calls: string[][] = [];
  for (const job of Object.values(doc.jobs))
    for (const step of job.steps)
      for (const line of (step.run ?? '').split(/\n|&&/)) {
        const w = words(line);
        const at = w.findIndex((x, i) => x === 'bin/kiln.js' || (x === 'kiln' && w[i - 1] === 'npx'));
        if (at >= 0) calls.push(w.slice(at + 1));
      }
  return calls;
}

/** What is wrong with one kiln call, against the real CLI; undefined when nothing is. */
function problem(program: Command, args: string[]): string | undefined {
  const [name, ...rest] = args;
  const cmd = program.commands.find((c) => c.name() === name);
  if (!cmd) return `kiln ${name}: no such command`;
  const known = new Set(cmd.options.flatMap((o) => [o.long, o.short]).filter((f): f is string => f !== undefined));
  const unknown = rest
    .filter((a) => a.startsWith('-'))
    .map((a) => a.split('=')[0] ?? a)
    .filter((f) => !known.has(f));
  return unknown.length > 0 ? `kiln ${name}: no option ${unknown.join(', ')}` : undefined;
}

describe('docs/ci.md workflow', () => {
  const workflow = workflowOf(readFileSync('docs/ci.md', 'utf8'));

  it('is a valid GitHub Actions workflow (and the check refuses one that is not)', () => {
    expect(validateWorkflow(workflow).errors).toEqual([]);
    expect(validateWorkflow(workflow.replace('runs-on:', 'runs-onn:')).errors.length).toBeGreaterThan(0);
  });

  it('runs only kiln commands and options that exist: build, sign, verify', async () => {
    const program = await buildProgram();
    const calls = kilnCalls(workflow);
    expect(calls.map((c) => c[0])).toEqual(['build', 'sign', 'verify']);
    expect(calls.map((c) => problem(program, c)).filter(Boolean)).toEqual([]);
    expect(calls.find((c) => c[0] === 'build')).toEqual(expect.arrayContaining(['--verify-reproducible']));
    expect(calls.find((c) => c[0] === 'verify')).toEqual(expect.arrayContaining(['--key']));
    // the check itself can fail
    expect(problem(program, ['build', 'images/pi-k3s.yaml', '--verify-reproducable'])).toBe('kiln build: no option --verify-reproducable');
    expect(problem(program, ['rebuild'])).toBe('kiln rebuild: no such command');
  });
});
