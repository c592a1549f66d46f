import { run } from '../../../src/util/exec.js';

// A throwaway L2 segment of network namespaces: a bridge namespace and one veth per member.
// Nothing touches the host's own interfaces; `destroy()` deletes every namespace it made.

export class Segment {
  readonly namespaces: string[] = [];
  readonly bridgeNs: string;

  constructor(readonly tag: string) {
    this.bridgeNs = `kbr${tag}`;
  }

  async create(): Promise<void> {
    await this.addNs(this.bridgeNs);
    await run('ip', ['-n', this.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await run('ip', ['-n', this.bridgeNs, 'link', 'set', 'br0', 'up']);
  }

  private async addNs(name: string): Promise<void> {
    await run('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  }

  /** Adds a namespace with interface `eth0` on the bridge; address in CIDR form, or none. */
  async member(name: string, mac: string, cidr?: string): Promise<string> {
    const ns = `${name}${this.tag}`;
    await this.addNs(ns);
    const peer = `p${name}${this.tag}`.slice(0, 15);
    await run('ip', ['link', 'add', 'eth0', 'netns', ns, 'address', mac, 'type', 'veth', 'peer', 'name', peer, 'netns', this.bridgeNs]);
    await run('ip', ['-n', this.bridgeNs, 'link', 'set', peer, 'master', 'br0', 'up']);
    await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    if (cidr) await run('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', 'eth0']);
    else await run('ip', ['-n', ns, 'route', 'add', 'default', 'dev', 'eth0']);
    return ns;
  }

  /**
   * Gives a namespace another segment made (or the host's none) an interface on this bridge: a
   * second network for it, e.g. the one its store is reached on, apart from the Pis' segment.
   */
  async attach(ns: string, ifname: string, mac: string, cidr: string): Promise<void> {
    const peer = `p${ifname}${ns}`.slice(0, 15);
    await run('ip', ['link', 'add', ifname, 'netns', ns, 'address', mac, 'type', 'veth', 'peer', 'name', peer, 'netns', this.bridgeNs]);
    await run('ip', ['-n', this.bridgeNs, 'link', 'set', peer, 'master', 'br0', 'up']);
    await run('ip', ['-n', ns, 'link', 'set', ifname, 'up']);
    await run('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', ifname]);
  }

  async destroy(): Promise<void> {
    for (const ns of this.namespaces.reverse()) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    this.namespaces.length = 0;
  }
}
