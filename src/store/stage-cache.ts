import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { hashOf, sha256File } from '../util/hash.js';
import { sameStamp, stampOf } from './file-stamp.js';
import { explainMiss, type Nouns, type StageInputs } from './input-diff.js';

// One cache for every stage whose outputs are worth keeping between builds (rootfs, installer):
//
//   <cache>/stages/<stage>/<key>/        key = hash of the stage's named inputs
//       <output files>                   whatever the stage wrote (rootfs.tar, vmlinuz, ...)
//       entry.json                       { stage, key, inputs, files: {name: size, sha256, stamp}, meta }
//   <cache>/stages/<stage>/.tmp-XXXX/    an entry being written; renamed to <key> when complete
//
// Keeping the inputs beside the outputs is what lets a miss say which input changed. The key is the
// same hash the stages used before entry.json existed, so entries written by an older kiln are
// found, verified by hash once (`adopt`) and given an entry.json instead of being rebuilt.

const ENTRY = 'entry.json';

const fileSchema = z.object({
  size: z.number().int(),
  sha256: z.string(),
  stamp: z.object({ size: z.number(), ino: z.string(), mtimeNs: z.string(), ctimeNs: z.string() }).optional(),
});
const entrySchema = z.object({
  version: z.literal(1),
  stage: z.string(),
  key: z.string(),
  createdAt: z.number(),
  inputs: z.record(z.string(), z.unknown()),
  files: z.record(z.string(), fileSchema),
  meta: z.unknown(),
});
type EntryRecord = z.infer<typeof entrySchema>;
export type OutputFile = z.infer<typeof fileSchema>;

export interface FillResult<M> {
  meta: M;
  /** Hashes the stage already computed while writing, so the cache does not read those files again. */
  files?: Record<string, { size: number; sha256: string }>;
}

export interface StageRequest<M> {
  stage: string;
  inputs: StageInputs;
  /** What to call list items of an input in a miss message (`debs` → "packages"). */
  nouns?: Nouns;
  parseMeta(meta: unknown): M;
  /** Writes the outputs into `dir` (a fresh temp dir) and returns the stage's metadata. */
  fill(dir: string): Promise<FillResult<M>>;
  /** Verifies an entry an older kiln wrote (no entry.json); undefined drops it. */
  adopt?(dir: string): Promise<FillResult<M> | undefined>;
  /** Skip the lookup and keep nothing: the cold build of the reproducibility check. */
  bypass?: boolean;
  /** Why the stage is (re)built: a miss explained, a dropped corrupt entry. */
  onMessage?(message: string): void;
}

export interface StageEntry<M> {
  stage: string;
  key: string;
  dir: string;
  cached: boolean;
  meta: M;
  files: Record<string, OutputFile>;
  /** Removes a bypass entry (a no-op for a stored one). */
  dispose(): Promise<void>;
}

export class StageCache {
  /** `root` is <cache>/stages; `hashFile` is injectable so tests can count reads. */
  constructor(
    readonly root: string,
    private readonly hashFile: (path: string) => Promise<string> = sha256File,
  ) {}

  keyOf(inputs: StageInputs): string {
    return hashOf(inputs);
  }

  dirOf(stage: string, key: string): string {
    return join(this.root, stage, key);
  }

  async get<M>(req: StageRequest<M>): Promise<StageEntry<M>> {
    const key = this.keyOf(req.inputs);
    const stageDir = join(this.root, req.stage);
    await mkdir(stageDir, { recursive: true });
    if (req.bypass) {
      const dir = await mkdtemp(join(stageDir, `.cold-${process.pid}-`));
      try {
        const filled = await req.fill(dir);
        const files = await this.record(dir, filled.files);
        return { stage: req.stage, key, dir, cached: false, meta: req.parseMeta(filled.meta), files, dispose: () => rm(dir, { recursive: true, force: true }) };
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
    const dir = this.dirOf(req.stage, key);
    const hit = await this.lookup(req, dir, key);
    if (hit) return hit;
    req.onMessage?.(explainMiss(await this.earlierEntries(stageDir, key), req.inputs, req.nouns));
    return this.fillEntry(req, dir, key);
  }

  private async lookup<M>(req: StageRequest<M>, dir: string, key: string): Promise<StageEntry<M> | undefined> {
    const record = await readEntry(dir);
    if (!record) {
      if (!(await exists(dir))) return undefined;
      const adopted = req.adopt ? await req.adopt(dir).catch(() => undefined) : undefined;
      if (!adopted) {
        req.onMessage?.(`cache entry ${key.slice(0, 12)} was incomplete or unreadable; dropped it`);
        await rm(dir, { recursive: true, force: true });
        return undefined;
      }
      const files = await this.record(dir, adopted.files);
      await writeEntry(dir, { version: 1, stage: req.stage, key, createdAt: Date.now(), inputs: req.inputs, files, meta: adopted.meta });
      return { stage: req.stage, key, dir, cached: true, meta: req.parseMeta(adopted.meta), files, dispose: async () => {} };
    }
    const bad = await this.verify(dir, record);
    if (bad) {
      req.onMessage?.(`cache entry ${key.slice(0, 12)} was corrupt (${bad}); dropped it`);
      await rm(dir, { recursive: true, force: true });
      return undefined;
    }
    return { stage: req.stage, key, dir, cached: true, meta: req.parseMeta(record.meta), files: record.files, dispose: async () => {} };
  }

  /** Returns what is wrong with the entry's files, or undefined when all are as written. */
  private async verify(dir: string, record: EntryRecord): Promise<string | undefined> {
    let restamped = false;
    const problems = await Promise.all(
      Object.entries(record.files).map(async ([name, f]) => {
        const path = join(dir, name);
        const now = await stampOf(path).catch(() => undefined);
        if (!now) return `${name} is missing`;
        if (sameStamp(f.stamp, now)) return undefined;
        // touched or copied since it was stored: only its bytes can tell
        if (now.size !== f.size || (await this.hashFile(path)) !== f.sha256) return `${name}: sha256 mismatch`;
        f.stamp = now;
        restamped = true;
        return undefined;
      }),
    );
    const bad = problems.find((p) => p !== undefined);
    if (!bad && restamped) await writeEntry(dir, record).catch(() => undefined);
    return bad;
  }

  private async fillEntry<M>(req: StageRequest<M>, dir: string, key: string): Promise<StageEntry<M>> {
    const tmp = await mkdtemp(join(this.root, req.stage, '.tmp-'));
    try {
      const filled = await req.fill(tmp);
      const files = await this.record(tmp, filled.files);
      await writeEntry(tmp, { version: 1, stage: req.stage, key, createdAt: Date.now(), inputs: req.inputs, files, meta: filled.meta });
      await rm(dir, { recursive: true, force: true });
      // renaming the directory leaves the files' inodes and ctimes as stamped
      await rename(tmp, dir);
      return { stage: req.stage, key, dir, cached: false, meta: req.parseMeta(filled.meta), files, dispose: async () => {} };
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /** Sizes, hashes (computed here unless the stage passed them) and stamps of every output file. */
  private async record(dir: string, known: FillResult<unknown>['files'] = {}): Promise<Record<string, OutputFile>> {
    const names = (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((d) => d.isFile())
      .map((d) => join(d.parentPath, d.name).slice(dir.length + 1))
      .filter((n) => n !== ENTRY)
      .sort();
    const out: Record<string, OutputFile> = {};
    for (const name of names) {
      const path = join(dir, name);
      const stamp = await stampOf(path);
      const k = known[name];
      const sha256 = k && k.size === stamp.size ? k.sha256 : await this.hashFile(path);
      out[name] = { size: stamp.size, sha256, stamp };
    }
    return out;
  }

  private async earlierEntries(stageDir: string, key: string): Promise<EntryRecord[]> {
    const names = (await readdir(stageDir).catch(() => [] as string[])).filter((n) => !n.startsWith('.') && n !== key);
    const records = await Promise.all(names.map((n) => readEntry(join(stageDir, n))));
    return records.filter((r): r is EntryRecord => r !== undefined);
  }
}

async function readEntry(dir: string): Promise<EntryRecord | undefined> {
  try {
    return entrySchema.parse(JSON.parse(await readFile(join(dir, ENTRY), 'utf8')));
  } catch {
    return undefined;
  }
}

async function writeEntry(dir: string, record: EntryRecord): Promise<void> {
  // entry.json is the entry's commit record: write it whole or not at all
  const tmp = join(dir, `.${ENTRY}.tmp-${process.pid}`);
  await writeFile(tmp, JSON.stringify(record));
  await rename(tmp, join(dir, ENTRY));
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
