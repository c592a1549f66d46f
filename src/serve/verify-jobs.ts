import { errorText } from '../util/errors.js';
import type { VerifyStatus } from './http/api-types.js';
import type { ImageInfo } from './images.js';
import type { VerifyReport } from '../verify/model.js';

// `kiln verify` of a served build, started from the dashboard (POST /api/images/:name/verify) and
// run in the background: it hashes the whole image and reads every file, minutes for a real
// build. At most one run per image at a time; the result is kept per image and image hash, so a
// rebuilt image under the same name reads as unchecked again. In memory: a restart forgets it.

export type VerifyFn = (img: ImageInfo) => Promise<VerifyReport>;

const SHOWN = 3;

/** What a failed report says, in one line: how many checks failed and the first few. */
export function failureMessage(r: VerifyReport): string {
  const failed = r.checks.filter((c) => c.status === 'fail');
  const shown = failed.slice(0, SHOWN).map((c) => `${c.subject}: ${c.detail}`);
  const text = `${failed.length} of ${r.checks.length} checks failed: ${shown.join('; ')}${failed.length > SHOWN ? '; ...' : ''}`;
  return text.length > 1000 ? `${text.slice(0, 999)}…` : text;
}

export class VerifyJobs {
  private readonly results = new Map<string, { sha256: string; status: VerifyStatus }>();
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly verify: VerifyFn,
    private readonly log: { warn(obj: object, msg: string): void } = { warn: () => undefined },
    private readonly now: () => Date = () => new Date(),
  ) {}

  status(img: ImageInfo): VerifyStatus {
    const r = this.results.get(img.name);
    return r && r.sha256 === img.sha256 ? r.status : { state: 'unchecked' };
  }

  /** Starts a run unless one is going; returns the status (running). */
  start(img: ImageInfo): VerifyStatus {
    if (this.running.has(img.name)) return this.status(img);
    const set = (status: VerifyStatus): void => void this.results.set(img.name, { sha256: img.sha256, status });
    set({ state: 'running' });
    const run = this.verify(img)
      .then((report) =>
        set(
          report.ok
            ? { state: 'ok', checkedAt: this.now().toISOString() }
            : { state: 'failed', checkedAt: this.now().toISOString(), message: failureMessage(report) },
        ),
      )
      .catch((err: unknown) => {
        const message = errorText(err);
        this.log.warn({ image: img.name, err: message }, 'verify: the check itself failed');
        set({ state: 'failed', checkedAt: this.now().toISOString(), message });
      })
      .finally(() => this.running.delete(img.name));
    this.running.set(img.name, run);
    return this.status(img);
  }

  /** Resolves once the image's current run (if any) has ended. */
  async settled(name: string): Promise<void> {
    await this.running.get(name);
  }
}
