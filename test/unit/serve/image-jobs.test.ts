import { describe, expect, it } from 'vitest';
import { DiffBusy, DiffReports } from '../../../src/serve/diff-reports.js';
import { failureMessage, VerifyJobs } from '../../../src/serve/verify-jobs.js';
import type { VerifyReport } from '../../../src/verify/model.js';
import { fakeImage } from '../../helpers/fakes.js';

// The dashboard's verify and diff jobs with stand-in work: at most one at a time, results kept by
// image hash. The real `kiln verify`/`kiln diff` behind them: test/integration/serve/dashboard-images.test.ts.

/** A promise the test resolves by hand. */
function gate<T>(): { promise: Promise<T>; open(v: T): void } {
  let open: (v: T) => void = () => undefined;
  const promise = new Promise<T>((r) => {
    open = r;
  });
  return { promise, open };
}

const report = (ok: boolean, fails = 0): VerifyReport => ({
  target: 'x',
  ok,
  checks: [
    { subject: 'image sha256', status: 'ok', detail: 'abc' },
    ...Array.from({ length: fails }, (_, i) => ({ subject: `partition ${i + 1} sha256`, status: 'fail' as const, detail: 'manifest says a, image has b' })),
  ],
});

describe('verify jobs', () => {
  it('runs one check per image at a time and keeps its result for that image hash', async () => {
    const runs: string[] = [];
    let g = gate<VerifyReport>();
    const jobs = new VerifyJobs(
      (img) => {
        runs.push(img.name);
        return g.promise;
      },
      undefined,
      () => new Date('2026-01-01T00:00:00Z'),
    );
    const img = fakeImage();
    expect(jobs.status(img)).toEqual({ state: 'unchecked' });
    expect(jobs.start(img)).toEqual({ state: 'running' });
    expect(jobs.start(img)).toEqual({ state: 'running' });
    expect(runs).toEqual(['fixture']);
    g.open(report(true));
    await jobs.settled('fixture');
    expect(jobs.status(img)).toEqual({ state: 'ok', checkedAt: '2026-01-01T00:00:00.000Z' });
    // the same name rebuilt (another hash) is unchecked again
    expect(jobs.status(fakeImage({ sha256: 'c'.repeat(64) }))).toEqual({ state: 'unchecked' });
    g = gate<VerifyReport>();
    jobs.start(img);
    g.open(report(false, 5));
    await jobs.settled('fixture');
    expect(jobs.status(img)).toMatchObject({ state: 'failed', message: expect.stringMatching(/^5 of 6 checks failed: partition 1 sha256: .*; \.\.\.$/) });
  });

  it('reports a check that could not run as failed, with the reason', async () => {
    const jobs = new VerifyJobs(() => Promise.reject(new Error('zstd: not found')));
    jobs.start(fakeImage());
    await jobs.settled('fixture');
    expect(jobs.status(fakeImage())).toMatchObject({ state: 'failed', message: 'zstd: not found' });
  });

  it('names at most three failed checks', () => {
    expect(failureMessage(report(false, 2))).toBe(
      '2 of 3 checks failed: partition 1 sha256: manifest says a, image has b; partition 2 sha256: manifest says a, image has b',
    );
  });
});

describe('diff reports', () => {
  it('computes one at a time, keeps reports by the two builds, and turns away a long queue', async () => {
    const gates: { a: string; b: string; g: ReturnType<typeof gate<string>> }[] = [];
    let active = 0;
    let most = 0;
    const reports = new DiffReports(
      async (a, b) => {
        active++;
        most = Math.max(most, active);
        const g = gate<string>();
        gates.push({ a: a.name, b: b.name, g });
        const html = await g.promise;
        active--;
        return html;
      },
      { keep: 2, maxQueued: 2 },
    );
    const [x, y, z] = [fakeImage({ name: 'x' }), fakeImage({ name: 'y' }), fakeImage({ name: 'z' })];
    const first = reports.html(x, y);
    const second = reports.html(x, z);
    await expect(reports.html(y, z)).rejects.toBeInstanceOf(DiffBusy);
    await new Promise((r) => setTimeout(r, 10));
    expect(gates.map((g) => g.b)).toEqual(['y']);
    gates[0]?.g.open('<x-y>');
    expect(await first).toBe('<x-y>');
    await new Promise((r) => setTimeout(r, 10));
    gates[1]?.g.open('<x-z>');
    expect(await second).toBe('<x-z>');
    expect(most).toBe(1);
    // cached: no new computation
    expect(await reports.html(x, y)).toBe('<x-y>');
    expect(gates.length).toBe(2);
    // a rebuilt image (new hash) is a new pair
    const rebuilt = reports.html(x, fakeImage({ name: 'y', sha256: 'd'.repeat(64) }));
    await new Promise((r) => setTimeout(r, 10));
    expect(gates.length).toBe(3);
    gates[2]?.g.open('<x-y2>');
    expect(await rebuilt).toBe('<x-y2>');
  });

  it('a failed diff is not cached and does not stop the next one', async () => {
    let calls = 0;
    const reports = new DiffReports(async () => {
      calls++;
      if (calls === 1) throw new Error('corrupt image');
      return '<ok>';
    });
    const [x, y] = [fakeImage({ name: 'x' }), fakeImage({ name: 'y' })];
    await expect(reports.html(x, y)).rejects.toThrow(/corrupt/);
    expect(await reports.html(x, y)).toBe('<ok>');
  });
});
