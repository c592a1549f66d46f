import type { ImageInfo } from './images.js';
import { KilnError } from '../util/errors.js';

// `kiln diff`'s HTML report of two served builds, for the dashboard. Computing one reads both
// images and opens their filesystems, so one runs at a time (the machine serving netboots has
// other work) and the few most recent reports are kept, by the two builds' names and hashes: a
// rebuilt image is a new pair. Requests beyond a short queue are turned away, not held.

export type DiffHtmlFn = (a: ImageInfo, b: ImageInfo) => Promise<string>;

export class DiffBusy extends KilnError {}

export class DiffReports {
  private readonly cache = new Map<string, string>();
  private chain: Promise<unknown> = Promise.resolve();
  private pending = 0;

  constructor(
    private readonly diff: DiffHtmlFn,
    private readonly opts: { keep: number; maxQueued: number } = { keep: 8, maxQueued: 4 },
  ) {}

  html(a: ImageInfo, b: ImageInfo): Promise<string> {
    const key = `${a.name}@${a.sha256}\u0000${b.name}@${b.sha256}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    if (this.pending >= this.opts.maxQueued) return Promise.reject(new DiffBusy('other diffs are being computed: try again in a minute'));
    this.pending++;
    const run = this.chain.then(async () => {
      // the same pair may have been computed while this one waited
      const done = this.cache.get(key);
      if (done !== undefined) return done;
      const html = await this.diff(a, b);
      this.cache.set(key, html);
      if (this.cache.size > this.opts.keep) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
      return html;
    });
    const settled = run.finally(() => this.pending--);
    this.chain = settled.catch(() => undefined);
    return settled;
  }
}
