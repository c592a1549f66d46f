// Writes a BENCH FIXTURE images dir in the layout `kiln build` produces: random bytes, not a Pi
// image. usage: node bench/serve-fixture.mjs <imagesDir> <name> <bootFileMiB> <imageMiB>
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, openSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [imagesDir, name, bootMiB, imageMiB] = process.argv.slice(2);
const dir = join(imagesDir, name);
mkdirSync(join(dir, 'boot'), { recursive: true });

function writeRandom(path, mib) {
  const h = createHash('sha256');
  const fd = openSync(path, 'w');
  for (let i = 0; i < Number(mib); i++) {
    const chunk = randomBytes(1 << 20);
    h.update(chunk);
    writeSync(fd, chunk);
  }
  closeSync(fd);
  return h.digest('hex');
}

writeRandom(join(dir, 'boot', 'big.bin'), bootMiB);
writeFileSync(join(dir, 'boot', 'cmdline.txt'), 'console=serial0,115200 root=PARTUUID=0b0b0b0b-02 rootwait\n');
writeFileSync(join(dir, 'boot', 'config.txt'), '# BENCH FIXTURE\narm_64bit=1\n');
const imgSha = writeRandom(join(dir, `${name}.img`), imageMiB);
const zstSha = writeRandom(join(dir, `${name}.img.zst`), 1);
writeFileSync(join(dir, `${name}.bmap`), '<bmap/>\n');
// the same writer and placeholder fields as every kiln-made fixture (needs dist-js: npx tsc -p tsconfig.json)
const { MANIFEST_FILE, manifestText, placeholderProvenance } = await import('../dist-js/manifest/write.js');
writeFileSync(
  join(dir, MANIFEST_FILE),
  manifestText({
    manifestVersion: 1,
    kilnVersion: '0.1.0',
    name,
    sourceDateEpoch: 0,
    image: {
      file: `${name}.img`,
      size: Number(imageMiB) << 20,
      sha256: imgSha,
      zst: { file: `${name}.img.zst`, size: 1 << 20, sha256: zstSha },
      bmap: { file: `${name}.bmap`, sha256: '0'.repeat(64), mappedBytes: 0 },
    },
    diskId: '0b0b0b0b',
    partitions: [],
    ...placeholderProvenance('bench'),
  }),
);
