import { writeFile } from 'node:fs/promises';
import type { ImageTools } from '../native/image-tools.js';
import type { FileEntry } from '../../manifest/schema.js';
import { KilnError } from '../../util/errors.js';

// kiln's own mke2fs.conf, so the feature set does not depend on the build host's /etc/mke2fs.conf.
const MKE2FS_CONF = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
`;

export const ext4Config = MKE2FS_CONF;

/** Makes the ext4 root from a directory with every choice mke2fs would randomise or date pinned. */
export async function makeExt4(opts: {
  image: string;
  sizeMiB: number;
  label: string;
  uuid: string;
  hashSeed: string;
  srcDir: string;
  sourceDateEpoch: number;
  workDir: string;
  /** The tree's entries (scanTree), whose inode times are pinned after mke2fs. */
  entries: readonly FileEntry[];
  /** e2fsprogs from the lock's image tools (never the host's). */
  tools: ImageTools;
}): Promise<void> {
  const conf = `${opts.workDir}/mke2fs.conf`;
  await writeFile(conf, MKE2FS_CONF);
  const env = {
    MKE2FS_CONFIG: conf,
    E2FSPROGS_FAKE_TIME: String(opts.sourceDateEpoch),
    SOURCE_DATE_EPOCH: String(opts.sourceDateEpoch),
    // no e2fsck.conf or blkid.conf of the host's
    E2FSCK_CONFIG: '/dev/null',
    BLKID_CONF: '/dev/null',
    BLKID_FILE: '/dev/null',
  };
  await opts.tools.run(
    'mke2fs',
    [
      '-q',
      '-F',
      '-t',
      'ext4',
      '-L',
      opts.label,
      '-U',
      opts.uuid,
      '-E',
      `hash_seed=${opts.hashSeed},root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0,nodiscard`,
      '-d',
      opts.srcDir,
      opts.image,
      `${opts.sizeMiB}M`,
    ],
    { env },
  );
  await pinInodeTimes(opts.tools, opts.image, opts.entries, opts.sourceDateEpoch, opts.workDir, env);
  // -f forces a full check; -n never changes the image
  await opts.tools.run('e2fsck', ['-fn', opts.image], { env });
}

/**
 * mke2fs -d copies each source file's ctime (which no tool can set: it is when the build touched the
 * file) and its atime (which reading moves). Both are rewritten with debugfs in one run: ctime to
 * SOURCE_DATE_EPOCH, atime to the file's clamped mtime.
 */
export function inodeTimeCommands(entries: readonly FileEntry[], sourceDateEpoch: number): string {
  const lines = [`sif / ctime @${sourceDateEpoch}`, `sif / atime @${sourceDateEpoch}`];
  for (const e of entries) {
    if (/["\n\\]/.test(e.path)) throw new KilnError(`cannot pin times of ${JSON.stringify(e.path)}: debugfs cannot quote that name`);
    lines.push(`sif "${e.path}" ctime @${sourceDateEpoch}`, `sif "${e.path}" atime @${e.mtime}`);
  }
  return `${lines.join('\n')}\n`;
}

async function pinInodeTimes(
  tools: ImageTools,
  image: string,
  entries: readonly FileEntry[],
  sourceDateEpoch: number,
  workDir: string,
  env: Record<string, string>,
): Promise<void> {
  const cmds = `${workDir}/debugfs-times.cmd`;
  await writeFile(cmds, inodeTimeCommands(entries, sourceDateEpoch));
  // the fake time also keeps debugfs from stamping the superblock's last-write time with the clock
  const r = await tools.run('debugfs', ['-w', '-f', cmds, image], { env });
  // debugfs reports a failed command on stderr but still exits 0
  const errors = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('debugfs ') && !/^debugfs: sif /.test(l));
  if (errors.length) throw new KilnError(`debugfs could not pin inode times:\n${errors.slice(0, 10).join('\n')}`);
}
