import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// An ignore rule written for build output (`cache/`, `build/`) once matched a source folder and hid
// it from git: files there were tracked only by accident and new ones were silently left out.
describe('.gitignore', () => {
  it('matches no tracked file', () => {
    const ignoredButTracked = execFileSync('git', ['ls-files', '--cached', '--ignored', '--exclude-standard'], { encoding: 'utf8' });
    expect(ignoredButTracked.split('\n').filter(Boolean)).toEqual([]);
  });

  it('matches no source file that is not yet tracked', () => {
    const ignoredNew = execFileSync('git', ['ls-files', '--others', '--ignored', '--exclude-standard', '--', 'src', 'test', 'docs', 'scripts'], {
      encoding: 'utf8',
    });
    expect(ignoredNew.split('\n').filter(Boolean)).toEqual([]);
  });
});
