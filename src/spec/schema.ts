import { z } from 'zod';
import { BOARD_NAMES } from '../boards/catalog.js';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits (sha256)');
const absPath = z
  .string()
  .regex(/^\/[^\0]*$/, 'must be an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ..');
const debName = z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'must be a Debian package name');
/** A package, optionally from a named suite (`linux-base/trixie-backports`, apt's target release). */
const debRequest = z.string().regex(/^[a-z0-9][a-z0-9+.-]+(\/[a-z-]+)?$/, 'must be a Debian package name, optionally name/suite');

export const artifactSchema = z.strictObject({
  /** What the artifact is, shown in manifests and errors; a fixture must say it is one. */
  description: z.string().min(1),
  version: z.string().min(1),
  /** https:// URL, or a path relative to the spec file that declares it. */
  url: z.string().min(1),
  sha256: sha256Hex,
  /** Absolute path inside the image. */
  install: absPath,
  mode: z
    .string()
    .regex(/^0?[0-7]{3,4}$/, 'must be an octal mode such as 0755')
    .default('0644'),
});
export type Artifact = z.infer<typeof artifactSchema>;

export const imageSpecSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes'),
    description: z.string().default(''),
    /** Every timestamp in the image derives from this, never from the clock. */
    sourceDateEpoch: z.number().int().nonnegative(),
    debian: z.strictObject({
      suite: z.string().regex(/^[a-z-]+$/),
      /**
       * More suites of the same mirror whose indexes the lock reads (trixie-backports). Their packages
       * have a lower apt priority: a spec takes one from there by naming it `name/suite`.
       */
      extraSuites: z.array(z.string().regex(/^[a-z-]+$/)).optional(),
      mirror: z.url({ protocol: /^https?$/ }),
      components: z.array(z.enum(['main', 'contrib', 'non-free', 'non-free-firmware'])).min(1),
      architecture: z.literal('arm64').default('arm64'),
    }),
    /** Installed on top of Essential + apt; the lock holds the full closure. */
    packages: z.array(debRequest).min(1),
    /** The boards the image boots on (src/boards/catalog.ts): what each needs is checked against the kernel. */
    boards: z.array(z.enum(BOARD_NAMES)).min(1),
    hostname: z
      .string()
      .regex(/^[a-z0-9-]{1,63}$/)
      .default('kiln'),
    disk: z.strictObject({
      bootSizeMiB: z.number().int().min(64).max(2048),
      rootSizeMiB: z.number().int().min(64).max(65536),
      bootLabel: z
        .string()
        .regex(/^[A-Z0-9_-]{1,11}$/, 'FAT labels: up to 11 of A-Z 0-9 _ -')
        .default('KILNBOOT'),
      rootLabel: z
        .string()
        .regex(/^[a-z0-9_-]{1,16}$/)
        .default('kiln-root'),
    }),
    boot: z.strictObject({
      /** Lines of config.txt; kiln adds kernel= and initramfs lines for the installed kernel. */
      configTxt: z.array(z.string()),
      /** Kernel arguments; kiln adds root=PARTUUID=<disk-id>-02. */
      cmdline: z.array(z.string().regex(/^\S+$/, 'one argument per entry, no spaces')),
      /** Write extlinux/extlinux.conf so U-Boot (and QEMU's virt machine) boots the same bytes. */
      extlinux: z.boolean().default(true),
    }),
    artifacts: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/), artifactSchema).default({}),
    /** Files written into the root filesystem by the overlay (text, no secrets). */
    files: z
      .array(
        z.strictObject({
          path: absPath,
          mode: z
            .string()
            .regex(/^0?[0-7]{3,4}$/)
            .default('0644'),
          content: z.string(),
        }),
      )
      .default([]),
    /**
     * The netboot installer (src/installer/): .debs unpacked into its initramfs on the build host,
     * never installed into the image. Locked apart from `packages` (the lock's `installerPackages`).
     */
    installer: z.strictObject({ packages: z.array(debName).min(1) }).optional(),
    /** systemd units enabled in the image (symlinks made by the overlay). */
    enableUnits: z.array(z.string().regex(/^[\w@.-]+\.(service|timer|socket|target|path)$/)).default([]),
  })
  .superRefine((spec, ctx) => {
    const suites = suitesOf(spec.debian);
    spec.packages.forEach((p, i) => {
      const suite = p.includes('/') ? p.slice(p.indexOf('/') + 1) : undefined;
      if (suite !== undefined && !suites.includes(suite)) {
        ctx.addIssue({
          code: 'custom',
          path: ['packages', i],
          message: `${p}: suite ${suite} is not debian.suite or one of debian.extraSuites (${suites.join(', ')})`,
        });
      }
    });
  });

export type ImageSpec = z.infer<typeof imageSpecSchema>;

/** The suites a spec's lock reads: the primary one, then its extra suites. */
export function suitesOf(debian: { suite: string; extraSuites?: readonly string[] | undefined }): string[] {
  return [debian.suite, ...(debian.extraSuites ?? [])];
}

/** `linux-base/trixie-backports` → `linux-base`. */
export function packageName(request: string): string {
  const slash = request.indexOf('/');
  return slash < 0 ? request : request.slice(0, slash);
}
