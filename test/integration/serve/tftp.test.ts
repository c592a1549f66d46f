import { createSocket } from 'node:dgram';
import { readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../src/util/exec.js';
import { loadImages } from '../../../src/serve/images.js';
import { ServeLookup } from '../../../src/serve/lookup.js';
import { ServeMetrics } from '../../../src/serve/metrics.js';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { openSqliteRegistry, type NodeRegistry } from '../../../src/serve/nodes/registry.js';
import { KilnTftpServer } from '../../../src/serve/tftp/server.js';
import { makeFixtureImages } from '../../helpers/images/serve-images.js';
import { freeUdpPort, sleep } from '../../helpers/net.js';
import { tempDir } from '../../helpers/tmp.js';

// Real tftp-hpa and atftp clients against the service on loopback; fixture boot files.
let work: string;
let port: number;
let server: KilnTftpServer;
let registry: NodeRegistry;
let boot: string;
let installerDir: string;
const metrics = new ServeMetrics();
const served: string[] = [];

beforeAll(async () => {
  work = tempDir('tftp');
  const images = join(work, 'dist');
  const { dir } = makeFixtureImages(images);
  makeFixtureImages(images, { name: 'fixture-installer', withInstaller: true });
  boot = join(dir, 'boot');
  symlinkSync('/etc/passwd', join(boot, 'escape.txt'));
  registry = await openSqliteRegistry(join(work, 'state', 'kiln.db'));
  await registry.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd', mac: 'dc:a6:32:01:02:03' }));
  await registry.upsert(nodeInputSchema.parse({ name: 'pi-02', serial: '0badf00d', plan: 'local' }));
  await registry.upsert(nodeInputSchema.parse({ name: 'pi-03', serial: 'abcdef03', image: 'fixture-installer' }));
  installerDir = join(images, 'fixture-installer', 'installer');
  const lookup = new ServeLookup(registry, await loadImages(images), 'fixture-image');
  port = await freeUdpPort();
  server = new KilnTftpServer({
    host: '127.0.0.1',
    port,
    lookup,
    metrics,
    ctx: { httpBase: 'http://127.0.0.1:8080' },
    onSeen: (n) => registry.seen(n.name),
    onServed: async (n, path) => {
      served.push(`${n.name}:${path}`);
    },
  });
  await server.start();
});

afterAll(async () => {
  await server?.stop();
  await registry?.close();
});

async function atftpGet(remote: string, opts: string[] = ['blksize 1024', 'tsize 0']): Promise<Buffer> {
  const local = join(work, `dl-${Math.random().toString(36).slice(2)}`);
  await run('atftp', [...opts.flatMap((o) => ['--option', o]), '-g', '-r', remote, '-l', local, '127.0.0.1', String(port)], {
    timeoutMs: 30_000,
  });
  return readFileSync(local);
}

async function hpaGet(remote: string): Promise<Buffer> {
  const local = join(work, `dl-${Math.random().toString(36).slice(2)}`);
  await run('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', remote, local], { timeoutMs: 30_000 });
  return readFileSync(local);
}

describe('TFTP with real clients', () => {
  it('atftp with blksize 1024 + tsize gets byte-identical files under <serial>/ and <mac>/', async () => {
    for (const f of ['start4.elf', 'vmlinuz', 'overlays/disable-bt.dtbo', 'fixup4.dat']) {
      expect((await atftpGet(`1234abcd/${f}`)).equals(readFileSync(join(boot, f)))).toBe(true);
    }
    expect((await atftpGet('dc-a6-32-01-02-03/initrd.img')).equals(readFileSync(join(boot, 'initrd.img')))).toBe(true);
    // exact multiple of the block size and empty file are the classic edge cases
    expect((await atftpGet('1234abcd/empty.txt')).length).toBe(0);
  });

  it('tftp-hpa (RFC 1350, 512-byte blocks) gets byte-identical files', async () => {
    expect((await hpaGet('1234abcd/start4.elf')).equals(readFileSync(join(boot, 'start4.elf')))).toBe(true);
  });

  it('atftp asking windowsize gets it', async () => {
    const data = await atftpGet('1234abcd/vmlinuz', ['blksize 1024', 'tsize 0', 'windowsize 8']);
    expect(data.equals(readFileSync(join(boot, 'vmlinuz')))).toBe(true);
  });

  it('renders per-node cmdline.txt and config.txt', async () => {
    const cmdline = (await atftpGet('1234abcd/cmdline.txt')).toString();
    expect(cmdline).toContain('root=PARTUUID=1a2b3c4d-02');
    expect(cmdline).toContain('cgroup_memory=1 cgroup_enable=memory');
    // no seed URL over TFTP: the seed needs the credential only an enrolled installer holds
    expect(cmdline).not.toContain('/seed/');
    expect((await atftpGet('1234abcd/config.txt')).toString()).toContain('arm_64bit=1');
    // Reading a node's files proves nothing about who asked: the time is kept, the address is not bound.
    expect((await registry.get('pi-01'))?.ip).toBeNull();
    expect((await registry.get('pi-01'))?.lastSeen).not.toBeNull();
    expect(served).toContain('pi-01:1234abcd/cmdline.txt');
  });

  it('serves the installer and points config.txt and cmdline.txt at it when the image has one', async () => {
    expect((await atftpGet('abcdef03/installer/vmlinuz')).equals(readFileSync(join(installerDir, 'vmlinuz')))).toBe(true);
    const config = (await atftpGet('abcdef03/config.txt')).toString();
    expect(config).toContain('kernel=installer/vmlinuz\ninitramfs installer/initrd.img followkernel');
    const cmdline = (await atftpGet('abcdef03/cmdline.txt')).toString();
    expect(cmdline).not.toContain('root=');
    expect(cmdline).toContain('kiln.image=http://127.0.0.1:8080/images/fixture-installer/fixture-installer.img ');
    expect(cmdline).toContain('kiln.node=pi-03');
    // an image without an installer: the path does not exist
    await expect(atftpGet('1234abcd/installer/vmlinuz')).rejects.toThrow();
  });

  it('refuses unknown nodes, local-plan nodes, traversal and symlink escapes', async () => {
    for (const p of ['deadbeef/start4.elf', '0badf00d/start4.elf', '../../etc/passwd', '/etc/passwd', '1234abcd/escape.txt', '1234abcd/nope']) {
      await expect(atftpGet(p)).rejects.toThrow();
    }
  });

  it('treats a one-block probe-and-abort as normal and keeps serving', async () => {
    const before = await metrics.registry.getSingleMetricAsString('kiln_tftp_requests_total');
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const rrq = Buffer.concat([Buffer.from([0, 1]), Buffer.from('1234abcd/start4.elf\0octet\0blksize\x001024\0tsize\x000\0', 'latin1')]);
    const got: Buffer[] = [];
    sock.on('message', (msg, rinfo) => {
      got.push(msg);
      const op = msg.readUInt16BE(0);
      if (op === 6) sock.send(Buffer.from([0, 4, 0, 0]), rinfo.port, rinfo.address); // ACK the OACK
      if (op === 3) sock.send(Buffer.concat([Buffer.from([0, 5, 0, 0]), Buffer.from('probe done\0')]), rinfo.port, rinfo.address);
    });
    sock.send(rrq, port, '127.0.0.1');
    for (let i = 0; i < 250 && !got.some((m) => m.readUInt16BE(0) === 3); i++) await sleep(20);
    sock.close();
    const oack = got.find((m) => m.readUInt16BE(0) === 6);
    expect(oack?.toString('latin1')).toContain('tsize\x00180000');
    expect(oack?.toString('latin1')).toContain('blksize\x001024');
    expect(oack?.toString('latin1')).not.toContain('windowsize');
    const data = got.find((m) => m.readUInt16BE(0) === 3);
    expect(data?.length).toBe(4 + 1024);
    let after = '';
    for (let i = 0; i < 100 && !after.includes('result="aborted"'); i++) {
      await sleep(20);
      after = await metrics.registry.getSingleMetricAsString('kiln_tftp_requests_total');
    }
    expect(after).toContain('result="aborted"');
    expect(after).not.toBe(before);
    expect((await atftpGet('1234abcd/fixup4.dat')).length).toBe(5000);
  });

  it('refuses malformed datagrams, unknown opcodes and writes, counts them, keeps serving', async () => {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const replies: Buffer[] = [];
    sock.on('message', (m) => replies.push(m));
    const bad = [
      Buffer.from([0, 1]),
      Buffer.from([0, 9, 65, 65, 65, 65, 0, 65, 0, 0]),
      Buffer.concat([Buffer.from([0, 2]), Buffer.from('x.txt\0octet\0')]),
      Buffer.concat([Buffer.from([0, 1]), Buffer.from('x'.repeat(600))]),
      Buffer.concat([Buffer.from([0, 1]), Buffer.from('1234abcd/start4.elf\0bogus\0')]),
    ];
    for (const b of bad) sock.send(b, port, '127.0.0.1');
    for (let i = 0; i < 250 && replies.length < bad.length; i++) await sleep(20);
    sock.close();
    expect(replies.every((r) => r.readUInt16BE(0) === 5)).toBe(true);
    const text = await metrics.registry.getSingleMetricAsString('kiln_tftp_requests_total');
    expect(text).toMatch(/result="malformed"\} [3-9]/);
    expect(text).toContain('result="bad-opcode"');
    expect(text).toContain('result="write-denied"');
    expect((await atftpGet('1234abcd/fixup4.dat')).length).toBe(5000);
  });

  it('serves ten Pis at once', async () => {
    const want = readFileSync(join(boot, 'vmlinuz'));
    const got = await Promise.all(Array.from({ length: 10 }, () => atftpGet('1234abcd/vmlinuz')));
    for (const g of got) expect(g.equals(want)).toBe(true);
  });
});
