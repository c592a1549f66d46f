import { describe, expect, it } from 'vitest';
import { imageIds } from '../../../src/builder/ids.js';

describe('image ids', () => {
  it('derive from the spec hash: stable and distinct', () => {
    const a = imageIds('x'.repeat(64));
    expect(imageIds('x'.repeat(64))).toEqual(a);
    expect(imageIds('y'.repeat(64)).diskId).not.toBe(a.diskId);
    expect(a.diskId).toMatch(/^[0-9a-f]{8}$/);
    expect(a.rootUuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a.rootHashSeed).not.toBe(a.rootUuid);
  });
});
