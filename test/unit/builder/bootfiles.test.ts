import { describe, expect, it } from 'vitest';
import { loadSpec } from '../../../src/spec/load.js';
import { renderConfigTxt, renderCmdline, renderExtlinux } from '../../../src/builder/stages/bootfiles.js';

describe('boot files', () => {
  it('renders root=PARTUUID from the disk id in cmdline.txt and extlinux, and fixed kernel names in config.txt', async () => {
    const { spec } = await loadSpec('images/pi-k3s.yaml');
    expect(renderCmdline(spec, 'a1b2c3d4')).toMatch(/^root=PARTUUID=a1b2c3d4-02 rootfstype=ext4 .*cgroup_memory=1 cgroup_enable=memory\n$/);
    expect(renderConfigTxt(spec)).toMatch(/\[all\]\nkernel=vmlinuz\ninitramfs initrd.img followkernel\n$/);
    const ext = renderExtlinux(spec, 'a1b2c3d4');
    expect(ext).toMatch(/append root=PARTUUID=a1b2c3d4-02 .* console=ttyAMA0,115200/);
    expect(ext).not.toMatch(/ttyS1/);
  });
});
