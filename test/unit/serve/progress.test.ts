import { describe, expect, it } from 'vitest';
import { progressByNode, progressOf } from '../../../src/serve/http/progress.js';

const at = '2026-01-01T00:00:00.000Z';

describe('install progress', () => {
  it('takes the reported percentage, with the byte counts and rate when they came', () => {
    expect(progressOf({ progress: 42, bytes: 10, total: 100, bytesPerSecond: 5e6 }, at)).toEqual({
      percent: 42,
      bytes: 10,
      total: 100,
      bytesPerSecond: 5e6,
      at,
    });
    expect(progressOf({ progress: 0 }, at)).toEqual({ percent: 0, at });
  });

  it('derives the percentage from bytes of total when no percentage came, to one decimal', () => {
    expect(progressOf({ bytes: 1, total: 3 }, at)).toEqual({ percent: 33.3, bytes: 1, total: 3, at });
    expect(progressOf({ bytes: 150, total: 100 }, at)?.percent).toBe(100);
  });

  it('says nothing without a percentage or a usable total', () => {
    for (const data of [{}, { bytes: 5 }, { bytes: 5, total: 0 }, { progress: 'half' }, { progress: Number.NaN }, { message: 'writing' }]) {
      expect(progressOf(data, at), JSON.stringify(data)).toBeUndefined();
    }
  });

  it('maps registry rows by node, leaving out rows without progress', () => {
    expect(
      progressByNode([
        { node: 'pi-01', at, data: { progress: 50 } },
        { node: 'pi-02', at, data: { message: 'no numbers' } },
      ]),
    ).toEqual({ 'pi-01': { percent: 50, at } });
  });
});
