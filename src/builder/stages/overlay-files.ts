import { suitesOf, type ImageSpec } from '../../spec/schema.js';

// What kiln adds to every image beside the spec's own files: the k3s units, the first-boot path that
// turns cloud-init's per-node data into a running k3s server or agent, and the disk's mounts. None of
// it is per node: identity (role, server URL, token, hostname, keys) arrives at boot from kiln serve.

export interface OverlayFile {
  path: string;
  mode: number;
  content: string | Buffer;
}
export interface OverlaySymlink {
  path: string;
  target: string;
}

const k3sUnit = (role: 'server' | 'agent'): string => `[Unit]
Description=k3s ${role} (installed by kiln; configured per node at first boot)
Documentation=https://docs.k3s.io
Wants=network-online.target
After=network-online.target time-sync.target
# cloud-init writes the node's config (token, server URL) from kiln's seed; no config, no start.
ConditionPathExists=/etc/rancher/k3s/config.yaml

[Service]
Type=notify
NotifyAccess=all
EnvironmentFile=-/etc/default/k3s
KillMode=process
Delegate=yes
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/k3s ${role}

[Install]
WantedBy=multi-user.target
`;

const firstbootUnit = `[Unit]
Description=kiln first boot: start k3s in the role cloud-init gave this node
After=cloud-final.service network-online.target
Wants=network-online.target
ConditionPathExists=/etc/kiln/node.env
ConditionPathExists=!/var/lib/kiln/firstboot.done

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/lib/kiln/firstboot

[Install]
# Not multi-user.target: cloud-final is ordered after it, so a unit wanted by multi-user.target and
# ordered after cloud-final is a cycle systemd breaks by dropping this unit (seen in the QEMU run).
WantedBy=cloud-init.target
`;

// /etc/kiln/node.env comes from the node's cloud-init seed (mode 0600): KILN_ROLE, KILN_EVENTS_URL,
// KILN_REPORT_TOKEN. The report is best effort: a node must come up even when kiln is away.
const firstbootScript = `#!/bin/sh
set -eu
. /etc/kiln/node.env
report() {
  [ -n "\${KILN_EVENTS_URL:-}" ] || return 0
  curl -fsS -m 10 --retry 3 -H 'Content-Type: application/json' \\
    -H "Authorization: Bearer \${KILN_REPORT_TOKEN:-}" \\
    -d "{\\"type\\":\\"$1\\",\\"detail\\":\\"$2\\"}" "$KILN_EVENTS_URL" >/dev/null || true
}
case "\${KILN_ROLE:-}" in
  server) unit=k3s.service ;;
  agent) unit=k3s-agent.service ;;
  *) echo "kiln-firstboot: KILN_ROLE must be server or agent, got '\${KILN_ROLE:-}'" >&2; report first-boot-failed "bad role"; exit 1 ;;
esac
report first-boot "role \${KILN_ROLE}"
systemctl enable "$unit"
systemctl start --no-block "$unit"
mkdir -p /var/lib/kiln
: > /var/lib/kiln/firstboot.done
report k3s-started "$unit"
`;

const cloudCfg = `# kiln: the node's identity comes from kiln serve's NoCloud seed (see docs/architecture.md).
datasource_list: [ NoCloud, None ]
preserve_hostname: false
ssh_deletekeys: true
ssh_genkeytypes: [ ed25519, ecdsa, rsa ]
disable_root: true
ssh_pwauth: false
`;

export function overlayFor(spec: ImageSpec, diskId: string): { files: OverlayFile[]; symlinks: OverlaySymlink[]; dirs: string[] } {
  const mirror = spec.debian.mirror.replace(/\/+$/, '');
  const files: OverlayFile[] = [
    { path: '/etc/hostname', mode: 0o644, content: `${spec.hostname}\n` },
    { path: '/etc/hosts', mode: 0o644, content: `127.0.0.1\tlocalhost\n127.0.1.1\t${spec.hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n` },
    {
      path: '/etc/fstab',
      mode: 0o644,
      content: `# kiln image: partitions by PARTUUID (the MBR disk id is fixed by the spec)\nPARTUUID=${diskId}-02\t/\text4\tdefaults,noatime\t0\t1\nPARTUUID=${diskId}-01\t/boot/firmware\tvfat\tdefaults,noatime\t0\t2\n`,
    },
    {
      path: '/etc/apt/sources.list.d/debian.sources',
      mode: 0o644,
      content:
        `Types: deb\nURIs: ${mirror}\nSuites: ${[spec.debian.suite, `${spec.debian.suite}-updates`, ...suitesOf(spec.debian).slice(1)].join(' ')}\nComponents: ${spec.debian.components.join(' ')}\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n` +
        `Types: deb\nURIs: ${mirror}-security\nSuites: ${spec.debian.suite}-security\nComponents: ${spec.debian.components.join(' ')}\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
    },
    { path: '/etc/cloud/cloud.cfg.d/90-kiln.cfg', mode: 0o644, content: cloudCfg },
    { path: '/etc/systemd/system/k3s.service', mode: 0o644, content: k3sUnit('server') },
    { path: '/etc/systemd/system/k3s-agent.service', mode: 0o644, content: k3sUnit('agent') },
    { path: '/etc/systemd/system/kiln-firstboot.service', mode: 0o644, content: firstbootUnit },
    { path: '/usr/local/lib/kiln/firstboot', mode: 0o755, content: firstbootScript },
    {
      path: '/etc/kiln/image.json',
      mode: 0o644,
      content: `${JSON.stringify({ name: spec.name, sourceDateEpoch: spec.sourceDateEpoch }, null, 1)}\n`,
    },
    ...spec.files.map((f) => ({ path: f.path, mode: Number.parseInt(f.mode, 8), content: f.content })),
  ];
  const symlinks: OverlaySymlink[] = [
    { path: '/etc/systemd/system/cloud-init.target.wants/kiln-firstboot.service', target: '/etc/systemd/system/kiln-firstboot.service' },
    ...spec.enableUnits.map((u) => ({ path: `/etc/systemd/system/multi-user.target.wants/${u}`, target: `/lib/systemd/system/${u}` })),
  ];
  return { files, symlinks, dirs: ['/boot/firmware', '/etc/rancher/k3s', '/var/lib/rancher/k3s/server/manifests'] };
}
