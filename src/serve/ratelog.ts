import { log } from '../util/log.js';

// "Logged once": a flood of identical bad packets gives one line per reason per interval, with a
// count of what was suppressed, instead of one line per packet.

export class RateLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  info(key: string, fields: Record<string, unknown>, msg: string): void {
    const t = this.now();
    const prev = this.last.get(key);
    if (prev && t - prev.at < this.intervalMs) {
      prev.suppressed++;
      return;
    }
    this.last.set(key, { at: t, suppressed: 0 });
    log.info({ ...fields, ...(prev?.suppressed ? { suppressedSinceLast: prev.suppressed } : {}) }, msg);
    if (this.last.size > 1000) this.last.clear();
  }
}
