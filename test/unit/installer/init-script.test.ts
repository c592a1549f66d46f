import { execFileSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderBmap } from '../../../src/disk/bmap.js';
import { scriptPath } from '../../../src/installer/initramfs.js';
import { tempDir } from '../../helpers/tmp.js';

// The on-node script's pure parts, run by the host's busybox sh (the same shell as on the node):
// KILN_INSTALLER_LIB=1 defines its functions without acting as PID 1.

let state: string;
beforeAll(() => {
  state = tempDir('init');
});

function sh(body: string): string {
  return execFileSync('busybox', ['sh', '-c', `set -f; . "$0"; ${body}`, scriptPath('init.sh')], {
    env: { ...process.env, KILN_INSTALLER_LIB: '1', STATE: state },
    encoding: 'utf8',
  });
}

describe('installer script (host busybox sh)', () => {
  it('reads what kiln serve puts on the kernel command line', () => {
    const cmdline =
      'console=ttyAMA0,115200 ip=dhcp kiln.node=pi-03 kiln.image=http://10.0.0.2:8080/images/pi/pi.img kiln.bmap=http://10.0.0.2:8080/images/pi/pi.bmap ' +
      `kiln.sha256=${'a'.repeat(64)} kiln.events=http://10.0.0.2:8080/api/nodes/pi-03/events kiln.token=${'f'.repeat(64)} cgroup_memory=1`;
    const out = sh(`parse_cmdline '${cmdline}'; echo "$NODE|$IMAGE|$BMAP|$SHA|$EVENTS|$TOKEN|$SEED|$RETRY"`);
    expect(out.trim()).toBe(
      [
        'pi-03',
        'http://10.0.0.2:8080/images/pi/pi.img',
        'http://10.0.0.2:8080/images/pi/pi.bmap',
        'a'.repeat(64),
        'http://10.0.0.2:8080/api/nodes/pi-03/events',
        'f'.repeat(64),
        // the seed URL comes from the enrolment, not from the command line
        '',
        '60',
      ].join('|'),
    );
  });
  it('splits URLs and names partitions as the kernel does', () => {
    expect(sh('split_url http://10.0.0.2:8080/images/a/b.img; echo "$H $PORT $P $hp"').trim()).toBe('10.0.0.2 8080 /images/a/b.img 10.0.0.2:8080');
    expect(sh('split_url http://kiln/x; echo "$H $PORT $P"').trim()).toBe('kiln 80 /x');
    expect(sh('part_dev /dev/mmcblk0 2; part_dev /dev/nvme0n1 2; part_dev /dev/sda 2; part_dev /dev/vda 2').split('\n').slice(0, 4)).toEqual([
      '/dev/mmcblk0p2',
      '/dev/nvme0n1p2',
      '/dev/sda2',
      '/dev/vda2',
    ]);
  });
  it("parses kiln's own bmap into ranges with their sha256", () => {
    const bmap = renderBmap(40960, 4096, [
      { first: 0, last: 0, sha256: '1'.repeat(64) },
      { first: 2, last: 5, sha256: '2'.repeat(64) },
    ]);
    writeFileSync(join(state, 'bmap'), bmap);
    const out = sh('parse_bmap && echo "$IMG_SIZE $BS" && cat "$STATE/ranges"');
    expect(out.split('\n')).toEqual(['40960 4096', `0 0 ${'1'.repeat(64)}`, `2 5 ${'2'.repeat(64)}`, '']);
  });
  it('refuses a bmap without sha256 ranges', () => {
    writeFileSync(
      join(state, 'bmap'),
      '<bmap version="1.4"><ImageSize> 4096 </ImageSize><BlockSize> 4096 </BlockSize><ChecksumType> sha1 </ChecksumType></bmap>',
    );
    expect(sh('parse_bmap && echo ok || echo refused').trim()).toBe('refused');
  });
  it('sends a report again while kiln answers 5xx (its store unreachable), at most REPORT_TRIES times, and once on any other answer', () => {
    // http_raw, sleep and the old-disk probe replaced: the answers come from a list, not a server
    const fake = (answers: string) =>
      `EVENTS=http://10.0.0.2:8080/api/nodes/pi-03/events; TOKEN=t; n=0; say() { :; }; sleep() { :; }; previous_credential() { PREV=""; };
       http_raw() { n=$((n + 1)); set -- ${answers}; eval "a=\\\${$n:-201}"; printf 'HTTP/1.1 %s x\\r\\n' "$a"; }`;
    expect(sh(`${fake('503 503 201')}; report installed done; echo "$n"`).trim()).toBe('3');
    expect(sh(`${fake('500 500 500 500 500 500 500 500')}; report installed done; echo "$n"`).trim()).toBe('6');
    expect(sh(`${fake('400')}; report installed done; echo "$n"`).trim()).toBe('1');
    // an enrolment kiln could not decide is retried (1), a refusal is final (2)
    expect(sh(`${fake('503')}; enroll; echo "rc=$?"`).trim()).toMatch(/rc=1$/);
    expect(sh(`${fake('409')}; enroll; echo "rc=$?"`).trim()).toMatch(/rc=2$/);
  });
  it('keeps report messages valid JSON strings', () => {
    expect(sh(`json_str 'say "hi"\\\\ now'`).trim()).toBe('say hi now');
  });
});

describe('seed pointer', () => {
  it('names the node seed (credential inside) in cloud-init system config and the NoCloud seed dir, root-only, and keeps the credential', () => {
    const root = join(state, 'root');
    const cred = 'c'.repeat(64);
    const url = `http://10.0.0.2:8080/seed/pi-03/${cred}/`;
    sh(`umask 022; seed_pointer_files '${root}' '${url}' '${cred}'; touch '${join(state, 'after')}'`);
    const read = (p: string) => execFileSync('cat', [join(root, p)], { encoding: 'utf8' });
    expect(read('etc/cloud/cloud.cfg.d/95-kiln-seed.cfg')).toContain(`datasource:\n  NoCloud:\n    seedfrom: ${url}\n`);
    expect(read('var/lib/cloud/seed/nocloud-net/meta-data')).toBe(`seedfrom: ${url}\n`);
    expect(read('var/lib/cloud/seed/nocloud-net/user-data')).toBe('#cloud-config\n{}\n');
    expect(read('var/lib/kiln/credential')).toBe(`${cred}\n`);
    for (const p of ['etc/cloud/cloud.cfg.d/95-kiln-seed.cfg', 'var/lib/cloud/seed/nocloud-net/meta-data', 'var/lib/kiln/credential']) {
      expect(statSync(join(root, p)).mode & 0o777, p).toBe(0o600);
    }
    // the caller's umask is back afterwards
    expect(statSync(join(state, 'after')).mode & 0o777).toBe(0o644);
  });
});
