import { TokenBucket } from '../nodes/activity.js';

// Failed dashboard sign-ins per client address: a token bucket each, so guessing the API token
// from one host goes at a few tries a minute. The token is 256 random bits, so this is not what
// keeps it safe; it keeps a guessing loop from costing CPU, log lines and metric noise. Pure.

export interface SignInLimitOptions {
  /** Failed sign-ins one address may make at once ... */
  burst: number;
  /** ... and then per minute. */
  perMinute: number;
  /** Addresses remembered; the oldest is forgotten beyond (a flood from many addresses costs bounded memory). */
  maxClients?: number;
}

export const DEFAULT_SIGN_IN_LIMIT: SignInLimitOptions = { burst: 5, perMinute: 5, maxClients: 1024 };

export class SignInLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly opts: SignInLimitOptions = DEFAULT_SIGN_IN_LIMIT) {}

  /** Whether the address may try now; checked before the token is compared at all. */
  allowed(ip: string, now: number): boolean {
    return this.buckets.get(ip)?.has(now) ?? true;
  }

  /** Counts one failed sign-in against the address. */
  failed(ip: string, now: number): void {
    let b = this.buckets.get(ip);
    if (!b) {
      const max = this.opts.maxClients ?? 1024;
      while (this.buckets.size >= max) {
        const oldest = this.buckets.keys().next().value;
        if (oldest === undefined) break;
        this.buckets.delete(oldest);
      }
      b = new TokenBucket(this.opts.burst, this.opts.perMinute, now);
      this.buckets.set(ip, b);
    }
    b.take(now);
  }
}
