import { describe, expect, it } from 'vitest';
import { loadSpec } from '../../../src/spec/load.js';
import { renderConfigTxt, renderCmdline, renderExtlinux } from '../../../src/builder/stages/bootfiles.js';

describe('boot files', () => {
  it('renders root=PARTUUID from the disk id in cmdline.txt and extlinux, and fixed kernel names in config.txt', async () => {
    const { spec } = await loadSpec('images/pi-k3s.yaml');
    expect(renderCmdline(spec, 'a1b2c3d4')).toMatch(/^root=PARTUUID=a1b2c3d4-02 rootfstype=ext4 .*cgroup_memory=1 cgroup_enable=memory /);
    const config = renderConfigTxt(spec);
    // a section per Pi board boots kiln's kernel; no kernel line outside them
    for (const board of ['pi4', 'pi5']) expect(config).toMatch(new RegExp(`\\[${board}\\]\\nkernel=vmlinuz\\ninitramfs initrd.img followkernel\\n`));
    expect(config.match(/^kernel=/gm)).toHaveLength(2);
    expect(config).toMatch(/\[all\]\n$/);
    // each Pi board's serial console, once; the Pi 5's debug UART is ttyAMA10
    const cmdline = renderCmdline(spec, 'a1b2c3d4');
    expect(cmdline.match(/console=ttyS1,115200/g)).toHaveLength(1);
    expect(cmdline).toMatch(/console=ttyAMA10,115200\n$/);
    const ext = renderExtlinux(spec, 'a1b2c3d4');
    expect(ext).toMatch(/append root=PARTUUID=a1b2c3d4-02 .* console=ttyAMA0,115200/);
    expect(ext).not.toMatch(/ttyS1/);
  });
});
