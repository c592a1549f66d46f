import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { postgresBin } from '../../helpers/postgres.js';
import { tempDir } from '../../helpers/tmp.js';

describe('postgresBin (which PostgreSQL the tests start)', () => {
  it('takes the newest version that has both initdb and postgres', () => {
    const root = tempDir('pg-root');
    for (const [v, tools] of [
      ['9', ['initdb', 'postgres']],
      ['15', ['initdb', 'postgres']],
      ['17', ['initdb']],
    ] as const) {
      mkdirSync(join(root, v, 'bin'), { recursive: true });
      for (const t of tools) writeFileSync(join(root, v, 'bin', t), '');
    }
    expect(postgresBin(root)).toBe(join(root, '15', 'bin'));
  });

  it('names the missing binaries and how to install them when there is none', () => {
    expect(() => postgresBin(join(tempDir('pg-root'), 'absent'))).toThrow(/absent\/<version>\/bin\/initdb and postgres; bash scripts\/setup-host.sh/);
  });
});
