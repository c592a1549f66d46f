import { describe, expect, it } from 'vitest';
import { describeStore } from '../../../src/serve/nodes/store/postgres.js';

describe('describeStore (a PostgreSQL URL for logs)', () => {
  it('keeps user, host, port and database, and drops the password', () => {
    expect(describeStore('postgres://kiln:hunter2@db.lan:6543/registry')).toBe('postgres://kiln@db.lan:6543/registry');
    expect(describeStore(`postgresql://kiln:${encodeURIComponent('p@ss/w:rd')}@10.0.0.2/reg?sslmode=require`)).toBe('postgres://kiln@10.0.0.2:5432/reg');
    expect(describeStore('postgres://kiln@db.lan/reg?password=hunter2')).toBe('postgres://kiln@db.lan:5432/reg');
  });

  it('fills in what libpq would: the socket host, the default port, the user as database', () => {
    expect(describeStore('postgres:///reg?host=/run/postgresql')).toBe('postgres:///run/postgresql:5432/reg');
    expect(describeStore('postgres://kiln@%2Frun%2Fpostgresql')).toBe('postgres://kiln@/run/postgresql:5432/kiln');
    expect(describeStore('postgres:///reg')).toBe('postgres://localhost:5432/reg');
    // node-postgres connects to ?host= and ?port= when both forms are given
    expect(describeStore('postgres://kiln:pw@localhost:1/reg?host=%2Ftmp%2Fs&port=5433')).toBe('postgres://kiln@/tmp/s:5433/reg');
  });

  it('refuses what is not a PostgreSQL URL without repeating it', () => {
    expect(() => describeStore('kiln:hunter2@db.lan')).toThrow(/does not parse|starts with/);
    expect(() => describeStore('mysql://kiln:hunter2@db.lan/reg')).toThrow('starts with mysql://');
    for (const url of ['kiln:hunter2@db.lan', 'mysql://kiln:hunter2@db.lan/reg', 'postgres://kiln:hunter2@[db/reg']) {
      expect(() => describeStore(url)).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2') }));
    }
  });
});
