import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { StageError } from '../../../src/builder/progress.js';
import { describeFailure } from '../../../src/cli/failure.js';
import { SpecError } from '../../../src/spec/load.js';
import { EXIT, KilnError } from '../../../src/util/errors.js';
import { ToolError } from '../../../src/util/exec.js';

describe('describeFailure: the one mapping from an error to what is printed and the exit code', () => {
  it('a KilnError: its message, its hint, its exit code', () => {
    const f = describeFailure(new KilnError('spec.yaml: packages: expected array', { hint: 'see images/pi-k3s.yaml' }), 'build');
    expect(f).toEqual({ text: 'kiln build: error: spec.yaml: packages: expected array\n  hint: see images/pi-k3s.yaml\n', code: EXIT.invalid });
  });

  it('the specific kinds keep their own codes: a failed tool is 3, also inside a build stage', () => {
    const tool = new ToolError('mke2fs', ['-d', '/tmp/x'], 1, 'No space left on device');
    expect(describeFailure(tool, 'build').code).toBe(EXIT.tool);
    expect(describeFailure(new StageError('root-fs', tool), 'build')).toMatchObject({ code: EXIT.tool });
    expect(describeFailure(new SpecError('x.yaml', ['name: required']), 'lock').code).toBe(EXIT.invalid);
  });

  it('a missing tool says how to get it', () => {
    const f = describeFailure(new ToolError('mmdebstrap', [], undefined, 'spawn mmdebstrap ENOENT', 'mmdebstrap is not installed'), 'build');
    expect(f.text).toContain('  hint: mmdebstrap is not installed\n');
  });

  it('anything else is a bug: internal error, exit 70, with the stack', () => {
    const f = describeFailure(new TypeError("Cannot read properties of undefined (reading 'x')"), 'serve');
    expect(f.code).toBe(EXIT.internal);
    expect(f.text).toMatch(/^kiln serve: internal error \(a bug in kiln.*\n.*TypeError: Cannot read properties/s);
    expect(describeFailure('a string', undefined).text).toMatch(/^kiln: internal error/);
  });

  it("commander's own exits: help and version are 0, a usage error is 2 (commander printed it already)", () => {
    expect(describeFailure(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), undefined)).toEqual({ text: '', code: 0 });
    expect(describeFailure(new CommanderError(1, 'commander.unknownCommand', "error: unknown command 'x'"), undefined)).toEqual({ text: '', code: 2 });
  });
});
