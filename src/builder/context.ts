import type { LoadedSpec } from '../spec/load.js';
import type { Lock } from '../lock/lockfile.js';
import type { BlobStore } from '../store/blob-store.js';
import type { StageCache } from '../store/stage-cache.js';
import type { Reporter } from './progress.js';
import type { Manifest, FileEntry } from '../manifest/schema.js';
import type { RootfsMode, RootfsResult } from './stages/rootfs.js';
import type { ToolRoot } from './native/tool-root.js';
import type { ImageTools } from './native/image-tools.js';
import type { HostArtifact } from './guards/host-arch.js';
import type { BootFiles } from './stages/bootfiles.js';
import type { DiskResult } from './stages/disk.js';
import type { InstallerResult } from '../installer/initramfs.js';
import type { ImageIds } from './ids.js';
import type { KernelFacts } from '../boards/kernel-check.js';
import type { SigningKey } from '../provenance/ssh-keygen.js';

export interface BuildOptions {
  specFile: string;
  lockFile?: string;
  outDir: string;
  cacheRoot: string;
  report: Reporter;
  /** Ignore cached stage outputs (the rootfs, the installer); blobs are still reused. */
  noStageCache?: boolean;
  /** How the rootfs's maintainer scripts run (default native; emulated is the reference). */
  rootfsMode?: RootfsMode;
  kilnVersion: string;
  /** `--sign`: sign SHA256SUMS and the provenance statement with this key (checked before the build starts). */
  sign?: SigningKey;
}

export interface BuildResult {
  outDir: string;
  manifest: Manifest;
  upToDate: boolean;
}

/** What the steps hand on to later steps; each is set by the step of the same name. */
export interface StepResults {
  inputs: { loaded: LoadedSpec; lock: Lock; lockPath: string; lockSha: string; finalDir: string; ids: ImageIds };
  fetch: { artifacts: Manifest['artifacts'] };
  /** The locked kernel's config, modules and device trees (checked against the spec's boards). */
  kernel: KernelFacts;
  /** The amd64 twins of the build tools (native rootfs mode only). */
  nativeTools: ToolRoot;
  rootfs: RootfsResult & { tools: Record<string, string> };
  /** The programs that write the image's bytes after the rootfs, from the lock (never the host's). */
  imageTools: ImageTools;
  finalKey: string;
  /** Scratch space (removed at the end) and the output dir being filled (renamed into place at the end). */
  workspace: { work: string; out: string; tree: string; bootDir: string };
  boot: BootFiles;
  installer: InstallerResult;
  /** matches: path → secret patterns found in that file's bytes (judged by the secret-scan step) */
  rootFs: { entries: FileEntry[]; matches: Map<string, string[]>; hostElf: HostArtifact[] };
  /** The boot partition's files (listed and hashed by the secret scan). */
  bootEntries: FileEntry[];
  disk: DiskResult & { zst: { file: string; size: number; sha256: string } };
  manifest: Manifest;
}

/**
 * The one object every build step reads and writes: the options, shared services (blob store,
 * stage cache, reporter) and the results of the steps run so far.
 */
export interface BuildContext {
  readonly opts: BuildOptions;
  readonly report: Reporter;
  readonly store: BlobStore;
  readonly stages: StageCache;
  readonly startedAt: number;
  readonly results: Partial<StepResults>;
  /** Stages whose output came from a cache, for the `done` event. */
  readonly cachedStages: string[];
  /** Run when the build ends, last registered first, whether it succeeded or not. */
  readonly cleanups: (() => Promise<void>)[];
  /** Set by a step that finishes the build early (nothing to rebuild) or at the end. */
  finished?: BuildResult;
}

/** The result of an earlier step; a step list in the wrong order fails here, naming both. */
export function need<K extends keyof StepResults>(ctx: BuildContext, key: K): StepResults[K] {
  const v = ctx.results[key];
  if (v === undefined) throw new Error(`internal: a build step needs "${key}", which no earlier step produced`);
  return v as StepResults[K];
}

/**
 * One named step of the build. `run` returns what the progress events show (cached, detail);
 * quiet steps (bookkeeping) emit no stage events, so the event stream keeps the stages users know.
 */
export interface Step {
  name: string;
  quiet?: boolean;
  /** Skipped when this returns false (the installer for specs without one). */
  when?(ctx: BuildContext): boolean;
  run(ctx: BuildContext): Promise<{ cached?: boolean; detail?: string }>;
}

export function rootfsModeOf(ctx: BuildContext): RootfsMode {
  return ctx.opts.rootfsMode ?? 'native';
}
