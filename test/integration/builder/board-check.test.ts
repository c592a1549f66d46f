import { readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { defaultCacheDir } from '../../../src/util/paths.js';
import { kiln } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

// The board check against a real kernel: images/pi-k3s.yaml with trixie's own kernel (6.12) in place
// of the backports one, still listing the Pi 5. A real lock from the mirror, the real .debs; kiln
// build must refuse before the rootfs, naming what the Pi 5 lacks. Costs a lock and, on a fresh
// machine, one kernel download (~90 MB); the kernel's facts are cached by its hash after that.

describe('kiln build checks the kernel against the boards', () => {
  it("refuses a Pi 5 target on trixie's 6.12 kernel, names what is missing, and starts no rootfs", async () => {
    const dir = tempDir('board-check');
    const spec = parse(await readFile('images/pi-k3s.yaml', 'utf8')) as {
      name: string;
      packages: string[];
      debian: Record<string, unknown>;
      artifacts: unknown;
    };
    spec.name = 'pi-k3s-trixie-kernel';
    spec.packages = [...spec.packages.filter((p) => !/^linux-(image|base)\b/.test(p)), 'linux-image-arm64'];
    delete spec.debian.extraSuites;
    // no k3s here (it cannot be downloaded on test machines): the fixture, named as one
    spec.artifacts = {
      'k3s-test-fixture': {
        description: 'TEST FIXTURE standing in for k3s (records its invocations; not k3s)',
        version: 'fixture-2',
        url: resolve('test/fixtures/k3s-fixture/k3s-fixture.sh'),
        sha256: '45bbcf9667f6bb22c0a05f506c99fea4ce9117a06f6c5539e4a42dc8fcb34af1',
        install: '/usr/local/bin/k3s',
        mode: '0755',
      },
    };
    const file = join(dir, 'pi-k3s-trixie-kernel.yaml');
    await writeFile(file, stringify(spec));
    const cache = defaultCacheDir();
    const locked = await kiln('lock', file, '--cache', cache);
    expect(locked.stderr + locked.stdout).toMatch(/packages/);
    expect(locked.code).toBe(0);
    const lock = JSON.parse(await readFile(join(dir, 'pi-k3s-trixie-kernel.lock.json'), 'utf8')) as { packages: { name: string }[] };
    expect(lock.packages.map((p) => p.name)).toContain('linux-image-arm64');

    const out = join(dir, 'dist');
    const r = await kiln('build', file, '--out', out, '--cache', cache, '--json');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/kernel 6\.12\.\d+\+deb13-arm64 .* lacks what these boards need/);
    expect(r.stderr).toMatch(/pi5: kernel options not set: .*CONFIG_MISC_RP1.*CONFIG_COMMON_CLK_RP1.*CONFIG_PINCTRL_RP1/);
    expect(r.stderr).toMatch(/pi5: .*no module: .*sdhci_brcmstb.*rp1_pci/);
    expect(r.stderr).toMatch(/no device tree: bcm2712-d-rpi-5-b\.dtb/);
    // only the Pi 5: the same kernel serves the Pi 4 and QEMU
    expect(r.stderr).not.toMatch(/- pi4:|- virt:/);
    const stages = r.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { stage?: string }).stage);
    expect(stages).toContain('kernel');
    expect(stages).not.toContain('rootfs');
    await expect(stat(join(out, spec.name))).rejects.toThrow();
  });
});
