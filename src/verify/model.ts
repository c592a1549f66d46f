// What `kiln verify` reports: a flat list of checks, each saying what was compared with what.

export type CheckStatus = 'ok' | 'fail' | 'skip';

export interface Check {
  /** What was checked, e.g. "SHA256SUMS pi.img" or "partition 2 ext4 UUID". */
  subject: string;
  status: CheckStatus;
  detail: string;
}

export interface VerifyReport {
  target: string;
  device?: string;
  ok: boolean;
  checks: Check[];
}

export const ok = (subject: string, detail: string): Check => ({ subject, status: 'ok', detail });
export const fail = (subject: string, detail: string): Check => ({ subject, status: 'fail', detail });
export const skip = (subject: string, detail: string): Check => ({ subject, status: 'skip', detail });

/** ok when equal, fail naming both values otherwise. */
export function expectEqual(subject: string, expected: string | number | boolean, actual: string | number | boolean): Check {
  return expected === actual ? ok(subject, String(actual)) : fail(subject, `manifest says ${String(expected)}, image has ${String(actual)}`);
}
