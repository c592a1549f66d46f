import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { firstIssue, formatIssues, KilnError } from '../../../src/util/errors.js';

const schema = z.strictObject({ name: z.string(), disk: z.strictObject({ size: z.number() }) });

describe('schema issues, written one way', () => {
  it('names each field by its path', () => {
    const r = schema.safeParse({ name: 3, disk: { size: 'big' }, extra: true });
    expect(r.success).toBe(false);
    const lines = r.success ? [] : formatIssues(r.error.issues);
    expect(lines).toContain('name: Invalid input: expected string, received number');
    expect(lines).toContain('disk.size: Invalid input: expected number, received string');
    expect(lines.some((l) => l.startsWith('(top level): Unrecognized key'))).toBe(true);
  });

  it('firstIssue gives one line, with a caller-chosen name for the top level', () => {
    const r = z.string().safeParse(1);
    expect(r.success ? '' : firstIssue(r.error, 'body')).toBe('body: Invalid input: expected string, received number');
  });
});

describe('KilnError', () => {
  it('defaults to exit 2 (bad input) and carries its subclass name', () => {
    class ExampleError extends KilnError {}
    const e = new ExampleError('x');
    expect(e.exitCode).toBe(2);
    expect(e.name).toBe('ExampleError');
    expect(e.hint).toBeUndefined();
  });
});
