import { z } from 'zod';

// The manifest is the contract between `kiln build` and its consumers (serve, installer, diff,
// verify). It is validated on read so a consumer fails clearly on a foreign or damaged file.

export const fileEntrySchema = z.strictObject({
  path: z.string(), // absolute inside the filesystem, e.g. /etc/hostname
  type: z.enum(['file', 'dir', 'symlink', 'char', 'block', 'fifo', 'socket', 'hardlink']),
  mode: z.string(), // octal permission bits incl. setuid/sticky, e.g. "0755"
  uid: z.number().int(),
  gid: z.number().int(),
  size: z.number().int(),
  mtime: z.number().int(),
  sha256: z.string().optional(), // regular files only
  target: z.string().optional(), // symlink target, or the path a hardlink points at
});
export type FileEntry = z.infer<typeof fileEntrySchema>;

export const partitionSchema = z.strictObject({
  index: z.number().int().min(1).max(4),
  /** MBR partition type byte, e.g. 0x0c FAT32 LBA, 0x83 Linux. */
  type: z.number().int(),
  bootable: z.boolean(),
  startSector: z.number().int(),
  sectors: z.number().int(),
  offset: z.number().int(),
  size: z.number().int(),
  sha256: z.string(),
  filesystem: z.enum(['vfat', 'ext4']),
  label: z.string(),
  /** FAT volume id (8 hex digits) or ext4 UUID. */
  fsId: z.string(),
  /** ext4 directory hash seed (UUID form); absent for FAT. */
  hashSeed: z.string().optional(),
  partuuid: z.string(),
});
export type PartitionInfo = z.infer<typeof partitionSchema>;

const packageRefSchema = z.strictObject({ name: z.string(), version: z.string(), arch: z.string(), sha256: z.string() });

/** A program of the image tools: the .deb it came from and those of the libraries it loaded. */
export const programProvenanceSchema = z.strictObject({ program: z.string(), package: packageRefSchema, libraries: z.array(packageRefSchema) });

export const manifestSchema = z.strictObject({
  manifestVersion: z.literal(1),
  kilnVersion: z.string(),
  name: z.string(),
  sourceDateEpoch: z.number().int(),
  image: z.strictObject({
    file: z.string(),
    size: z.number().int(),
    sha256: z.string(),
    zst: z.strictObject({ file: z.string(), size: z.number().int(), sha256: z.string() }),
    bmap: z.strictObject({ file: z.string(), sha256: z.string(), mappedBytes: z.number().int() }),
  }),
  /** MBR disk identifier, 8 hex digits; the root partition is PARTUUID=<diskId>-02. */
  diskId: z.string(),
  partitions: z.array(partitionSchema),
  spec: z.strictObject({ file: z.string(), sha256: z.string(), packagesHash: z.string() }),
  /** The boards the image was built and checked for (absent in manifests from before the board matrix). */
  boards: z.array(z.string()).optional(),
  lock: z.strictObject({ file: z.string(), sha256: z.string() }),
  artifacts: z.array(
    z.strictObject({
      name: z.string(),
      description: z.string(),
      version: z.string(),
      url: z.string(),
      sha256: z.string(),
      size: z.number().int(),
      install: z.string(),
    }),
  ),
  packages: z.array(z.strictObject({ name: z.string(), version: z.string(), arch: z.string(), sha256: z.string() })),
  /**
   * Versions of what the host still provides: node, and the rootfs stage's mmdebstrap, apt, dpkg
   * (also dpkg-deb, which unpacks every .deb), tar and qemu-user-static. Older manifests also list
   * e2fsprogs, dosfstools, mtools and zstd: the image tools came from the host then.
   */
  hostTools: z.record(z.string(), z.string()),
  /**
   * How the rootfs was made: `native` (amd64 twins of the build tools ran the maintainer scripts;
   * their .debs listed) or `emulated` (all under qemu-user). Either gives the same image bytes.
   */
  rootfs: z
    .strictObject({
      mode: z.enum(['native', 'emulated']),
      nativeTools: z.array(z.strictObject({ name: z.string(), version: z.string(), arch: z.string(), sha256: z.string() })).optional(),
    })
    .optional(),
  /**
   * Which programs made which bytes after the rootfs, each from the lock's .debs for the build
   * host's architecture, never the host's own: `madeBy.tree` unpacked the rootfs, `root` made the ext4
   * partition, `boot` the FAT one, `zst` the compressed image; `diskTable` says what wrote the MBR.
   * Absent in manifests from before the image tools were locked (those used the host's programs).
   */
  imageTools: z
    .strictObject({
      architecture: z.string(),
      madeBy: z.record(z.string(), z.array(programProvenanceSchema)),
      diskTable: z.string(),
      packages: z.array(packageRefSchema),
    })
    .optional(),
  /** Stage cache keys: equal keys mean equal stage inputs. */
  stages: z.record(z.string(), z.string()),
  files: z.strictObject({ boot: z.array(fileEntrySchema), root: z.array(fileEntrySchema) }),
  /** Extra build products beside the image (e.g. the installer), by role. */
  extras: z.record(z.string(), z.strictObject({ file: z.string(), size: z.number().int(), sha256: z.string() })).default({}),
});
export type Manifest = z.infer<typeof manifestSchema>;
