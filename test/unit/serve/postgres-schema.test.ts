import { describe, expect, it } from 'vitest';
import { PRUNABLE_TYPES } from '../../../src/serve/nodes/activity.js';
import { LATEST_SCHEMA_VERSION, MIGRATION_1_PRUNABLE, MIGRATIONS } from '../../../src/serve/nodes/store/postgres-schema.js';

describe('PostgreSQL registry migrations', () => {
  it('are numbered 1..n in order', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(Array.from({ length: MIGRATIONS.length }, (_, i) => i + 1));
    expect(LATEST_SCHEMA_VERSION).toBe(MIGRATIONS.length);
  });

  it("let the retention delete exactly activity.ts's prunable types (a change there is a new migration)", () => {
    expect([...MIGRATION_1_PRUNABLE].sort()).toEqual([...PRUNABLE_TYPES].sort());
  });
});
