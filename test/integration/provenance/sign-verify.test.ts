import { chmod, cp, mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BuildContext, Step, StepResults } from '../../../src/builder/context.js';
import { build } from '../../../src/builder/pipeline.js';
import type { BuildEvent } from '../../../src/builder/progress.js';
import { BUILD_STEPS } from '../../../src/builder/steps/index.js';
import { commitStep } from '../../../src/builder/steps/commit.js';
import { signStep } from '../../../src/builder/steps/sign.js';
import { readManifest } from '../../../src/manifest/read.js';
import { loadSigningKey } from '../../../src/provenance/ssh-keygen.js';
import { kiln } from '../../helpers/cli.js';
import { baseSpec, buildFixture, type BuiltFixture } from '../../helpers/images/fs-image.js';
import { must } from '../../helpers/must.js';
import { tempDir } from '../../helpers/tmp.js';

// `kiln sign` / `kiln build --sign` and `kiln verify --key` with the real ssh-keygen, on a small
// hand-made build dir (test/helpers/images/fs-image.ts). What stock tools must accept is checked
// with them directly, from bytes this test reconstructs itself (PAE, the SSH signature armor),
// never through kiln's own encoders.

interface JsonVerify {
  ok: boolean;
  checks: { subject: string; status: string; detail: string }[];
}

const SIG_BEGIN = '-----BEGIN SSH SIGNATURE-----';
const SIG_END = '-----END SSH SIGNATURE-----';

/** The armor ssh-keygen reads, written here independently of src/provenance/sshsig.ts. */
function armorHere(blob: Buffer): string {
  const b64 = blob.toString('base64');
  return `${SIG_BEGIN}\n${(b64.match(/.{1,70}/g) ?? []).join('\n')}\n${SIG_END}\n`;
}
function dearmorHere(text: string): Buffer {
  return Buffer.from(text.replace(SIG_BEGIN, '').replace(SIG_END, '').replace(/\s/g, ''), 'base64');
}
/** DSSE's PAE, from protocol.md, written here independently of src/provenance/dsse.ts. */
function paeHere(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `), body]);
}

interface Envelope {
  payload: string;
  payloadType: string;
  signatures: { keyid?: string; sig: string }[];
}

async function readEnvelope(dir: string): Promise<Envelope> {
  const lines = (await readFile(join(dir, 'provenance.intoto.jsonl'), 'utf8')).split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  return JSON.parse(must(lines[0], 'an envelope line')) as Envelope;
}

async function writeEnvelope(dir: string, env: Envelope): Promise<void> {
  await writeFile(join(dir, 'provenance.intoto.jsonl'), `${JSON.stringify(env)}\n`);
}

async function poke(path: string, offset: number, bytes: Buffer): Promise<void> {
  const fh = await open(path, 'r+');
  await fh.write(bytes, 0, bytes.length, offset);
  await fh.close();
}

/** The stock tool, the way a third party runs it. */
async function stockVerify(allowedSigners: string, identity: string, namespace: string, sigFile: string, data: Buffer) {
  return execa('ssh-keygen', ['-Y', 'verify', '-f', allowedSigners, '-I', identity, '-n', namespace, '-s', sigFile], { input: data, reject: false });
}

async function sshSignHere(key: string, namespace: string, data: Buffer): Promise<Buffer> {
  const r = await execa('ssh-keygen', ['-Y', 'sign', '-n', namespace, '-f', key], { input: data, encoding: 'utf8' });
  return dearmorHere(r.stdout);
}

describe('signed builds', () => {
  let work: string;
  let fixture: BuiltFixture;
  /** A signed copy of the fixture build; tests copy it before changing anything. */
  let signed: string;
  let key: string;
  let otherKey: string;
  let fp: string;
  let otherFp: string;

  async function keygen(name: string, args: string[] = ['-t', 'ed25519', '-N', '']): Promise<string> {
    const path = join(work, 'keys', name);
    await execa('ssh-keygen', ['-q', ...args, '-C', `${name}@kiln-test`, '-f', path]);
    return path;
  }
  const fingerprintOf = async (pub: string) => must(/SHA256:\S+/.exec((await execa('ssh-keygen', ['-l', '-f', pub])).stdout)?.[0], 'a fingerprint');

  beforeAll(async () => {
    work = tempDir('provenance');
    await mkdir(join(work, 'keys'));
    fixture = await buildFixture(join(work, 'dist'), baseSpec(), { products: true });
    key = await keygen('release');
    otherKey = await keygen('intruder');
    fp = await fingerprintOf(`${key}.pub`);
    otherFp = await fingerprintOf(`${otherKey}.pub`);
    signed = join(work, 'signed');
    await cp(fixture.dir, signed, { recursive: true });
    const r = await kiln('sign', signed, '--key', key);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`(5 subjects, ssh-ed25519 ${fp})`);
  });

  let copies = 0;
  async function copySigned(): Promise<string> {
    const dir = join(work, `copy-${++copies}`);
    await cp(signed, dir, { recursive: true });
    return dir;
  }

  async function verifyJson(dir: string, ...extra: string[]): Promise<{ code: number; report: JsonVerify; failed: Map<string, string> }> {
    const r = await kiln('verify', '--json', '--no-files', dir, '--key', `${key}.pub`, ...extra);
    expect(r.stderr).toBe('');
    const report = JSON.parse(r.stdout) as JsonVerify;
    const failed = new Map(report.checks.filter((c) => c.status === 'fail').map((c) => [c.subject, c.detail]));
    return { code: r.code, report, failed };
  }

  it('round trip: kiln sign, then kiln verify --key passes every check, with a .pub or an allowed_signers file', async () => {
    const r = await kiln('verify', signed, '--key', `${key}.pub`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`^ok +SHA256SUMS signature +SHA256SUMS.sig verifies: signed by "kiln" with ssh-ed25519 ${fp.replace(/[+/]/g, '\\$&')}$`, 'm'),
    );
    expect(r.stdout).toMatch(/^ok +provenance signature +provenance.intoto.jsonl: the DSSE signature verifies/m);
    expect(r.stdout).toMatch(/^ok +provenance statement +5 subjects match SHA256SUMS; the SLSA provenance matches manifest.json/m);
    expect(r.stdout).toMatch(/^ok +SHA256SUMS fixture.img /m);
    expect(r.stdout).toMatch(/^VERIFIED: /m);

    const signers = join(work, 'allowed_signers');
    const pub = (await readFile(`${key}.pub`, 'utf8')).trim();
    await writeFile(signers, `# release signers\nrelease@example.org namespaces="file,kiln-provenance" ${pub}\n`);
    const a = await kiln('verify', signed, '--key', signers, '--identity', 'release@example.org');
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/^ok +SHA256SUMS signature +SHA256SUMS.sig verifies: signed by "release@example.org"/m);
    const wrongId = await kiln('verify', signed, '--key', signers, '--identity', 'someone@example.org');
    expect(wrongId.code).toBe(1);
    expect(wrongId.stdout).toMatch(/^FAIL +SHA256SUMS signature +SHA256SUMS.sig was signed by SHA256:\S+, and \S+ lists no key for "someone@example.org"$/m);
    const noId = await kiln('verify', signed, '--key', signers);
    expect(noId.code).toBe(2);
    expect(noId.stderr).toContain('is an allowed_signers file: --identity names the signer to accept');
  });

  it('stock ssh-keygen -Y verify accepts SHA256SUMS.sig (namespace file)', async () => {
    const signers = join(work, 'stock_allowed_signers');
    await writeFile(signers, `kiln ${(await readFile(`${key}.pub`, 'utf8')).trim()}\n`);
    const sums = await readFile(join(signed, 'SHA256SUMS'));
    const good = await stockVerify(signers, 'kiln', 'file', join(signed, 'SHA256SUMS.sig'), sums);
    expect(good.stderr).toBe('');
    expect(good.exitCode).toBe(0);
    expect(good.stdout).toContain(`Good "file" signature for kiln with ED25519 key ${fp}`);
    // and the same tool refuses a changed SHA256SUMS: the check above can fail
    const bad = await stockVerify(signers, 'kiln', 'file', join(signed, 'SHA256SUMS.sig'), Buffer.concat([sums, Buffer.from('\n')]));
    expect(bad.exitCode).not.toBe(0);
  });

  it('the DSSE envelope verifies with stock ssh-keygen over PAE bytes rebuilt here, and its statement lists SHA256SUMS', async () => {
    const env = await readEnvelope(signed);
    expect(env.payloadType).toBe('application/vnd.in-toto+json');
    expect(env.signatures).toHaveLength(1);
    const sig = must(env.signatures[0], 'a signature');
    expect(sig.keyid).toBe(fp);
    const payload = Buffer.from(env.payload, 'base64');
    const sigFile = join(work, 'dsse.sig');
    await writeFile(sigFile, armorHere(Buffer.from(sig.sig, 'base64')));
    const signers = join(work, 'dsse_allowed_signers');
    await writeFile(signers, `builder ${(await readFile(`${key}.pub`, 'utf8')).trim()}\n`);
    const good = await stockVerify(signers, 'builder', 'kiln-provenance', sigFile, paeHere(env.payloadType, payload));
    expect(good.exitCode).toBe(0);
    expect(good.stdout).toContain(`Good "kiln-provenance" signature for builder with ED25519 key ${fp}`);
    // the bare payload (no PAE) or another namespace must not verify
    expect((await stockVerify(signers, 'builder', 'kiln-provenance', sigFile, payload)).exitCode).not.toBe(0);
    expect((await stockVerify(signers, 'builder', 'file', sigFile, paeHere(env.payloadType, payload))).exitCode).not.toBe(0);

    const statement = JSON.parse(payload.toString()) as {
      _type: string;
      predicateType: string;
      subject: { name: string; digest: { sha256: string } }[];
      predicate: { buildDefinition: { externalParameters: { spec: { digest: { sha256: string } }; lock: { digest: { sha256: string } } } } };
    };
    expect(statement._type).toBe('https://in-toto.io/Statement/v1');
    expect(statement.predicateType).toBe('https://slsa.dev/provenance/v1');
    const sumsText = await readFile(join(signed, 'SHA256SUMS'), 'utf8');
    const lines = [...sumsText.matchAll(/^([0-9a-f]{64}) {2}(\S+)$/gm)].map((m) => ({ name: m[2], digest: { sha256: m[1] } }));
    expect(lines.map((l) => l.name)).toEqual(['fixture.img', 'fixture.img.zst', 'fixture.bmap', 'manifest.json']);
    const sumsSha = (await execa('sha256sum', [join(signed, 'SHA256SUMS')])).stdout.slice(0, 64);
    expect(statement.subject).toEqual([...lines, { name: 'SHA256SUMS', digest: { sha256: sumsSha } }]);
    const manifest = JSON.parse(await readFile(join(signed, 'manifest.json'), 'utf8')) as { spec: { sha256: string }; lock: { sha256: string } };
    expect(statement.predicate.buildDefinition.externalParameters.spec.digest.sha256).toBe(manifest.spec.sha256);
    expect(statement.predicate.buildDefinition.externalParameters.lock.digest.sha256).toBe(manifest.lock.sha256);
  });

  it('refuses a flipped byte in the image, SHA256SUMS, the statement and each signature, each with its own message', async () => {
    const primary: Record<string, string> = {};

    // the image: one byte in the root partition
    const img = await copySigned();
    await poke(join(img, 'fixture.img'), fixture.disk.partitions[1]?.offset ?? 0, Buffer.from('X'));
    let v = await verifyJson(img);
    expect(v.code).toBe(1);
    primary.image = must(v.failed.get('SHA256SUMS fixture.img'), 'the image sum check failed');
    expect(primary.image).toMatch(/^listed [0-9a-f]{64}, file has [0-9a-f]{64}$/);
    for (const s of ['SHA256SUMS signature', 'provenance signature', 'provenance statement']) expect(v.failed.has(s), s).toBe(false);

    // SHA256SUMS: one hex digit of the bmap's line
    const sums = await copySigned();
    const sumsPath = join(sums, 'SHA256SUMS');
    const text = await readFile(sumsPath, 'utf8');
    const at = text.indexOf('  fixture.bmap') - 1;
    await writeFile(sumsPath, text.slice(0, at) + (text[at] === '0' ? '1' : '0') + text.slice(at + 1));
    v = await verifyJson(sums);
    expect(v.code).toBe(1);
    primary.sums = must(v.failed.get('SHA256SUMS signature'), 'the SHA256SUMS signature check failed');
    expect(primary.sums).toMatch(/^SHA256SUMS changed after it was signed: its sha256 is [0-9a-f]{64}, the signed provenance records [0-9a-f]{64}$/);
    expect(v.failed.get('SHA256SUMS fixture.bmap')).toMatch(/^listed /);
    expect(v.failed.get('provenance statement')).toMatch(/subject\[fixture.bmap\].digest.sha256/);
    expect(v.failed.has('provenance signature')).toBe(false);

    // the statement: one byte of the payload (a digit of the image's digest)
    const stmt = await copySigned();
    const env = await readEnvelope(stmt);
    const payload = Buffer.from(env.payload, 'base64');
    const digit = payload.indexOf(fixture.disk.sha256) + 10;
    payload[digit] = payload[digit] === 0x30 ? 0x31 : 0x30;
    await writeEnvelope(stmt, { ...env, payload: payload.toString('base64') });
    v = await verifyJson(stmt);
    expect(v.code).toBe(1);
    primary.statement = must(v.failed.get('provenance signature'), 'the provenance signature check failed');
    expect(primary.statement).toMatch(
      new RegExp(
        `^the statement in provenance.intoto.jsonl changed after it was signed: its signature by ${fp.replace(/[+/]/g, '\\$&')} does not verify over it`,
      ),
    );
    expect(v.failed.get('provenance statement')).toMatch(
      /^the statement differs from what kiln derives .* subject\[fixture.img\].digest.sha256: statement says "/,
    );
    expect(v.failed.has('SHA256SUMS signature')).toBe(false);

    // SHA256SUMS.sig: the last byte of the signature blob
    const sumsSig = await copySigned();
    const blob = dearmorHere(await readFile(join(sumsSig, 'SHA256SUMS.sig'), 'utf8'));
    blob[blob.length - 1] = (blob[blob.length - 1] ?? 0) ^ 0x01;
    await writeFile(join(sumsSig, 'SHA256SUMS.sig'), armorHere(blob));
    v = await verifyJson(sumsSig);
    expect(v.code).toBe(1);
    primary.sumsSig = must(v.failed.get('SHA256SUMS signature'), 'the SHA256SUMS signature check failed');
    expect(primary.sumsSig).toMatch(/^SHA256SUMS.sig is damaged: SHA256SUMS is exactly the one the signed provenance records/);
    expect([...v.failed.keys()]).toEqual(['SHA256SUMS signature']);

    // the DSSE signature: the last byte of its blob
    const dsseSig = await copySigned();
    const env2 = await readEnvelope(dsseSig);
    const sig = Buffer.from(must(env2.signatures[0], 'a signature').sig, 'base64');
    sig[sig.length - 1] = (sig[sig.length - 1] ?? 0) ^ 0x01;
    await writeEnvelope(dsseSig, { ...env2, signatures: [{ ...env2.signatures[0], sig: sig.toString('base64') }] });
    v = await verifyJson(dsseSig);
    expect(v.code).toBe(1);
    primary.dsseSig = must(v.failed.get('provenance signature'), 'the provenance signature check failed');
    expect(primary.dsseSig).toMatch(/^the DSSE signature in provenance.intoto.jsonl is damaged: the statement is exactly what kiln derives from this build/);
    expect([...v.failed.keys()]).toEqual(['provenance signature']);

    // five tamperings, five different messages
    expect(new Set(Object.values(primary)).size).toBe(5);
  });

  it('refuses a tampered statement re-signed by another key, and by the right key too (its content)', async () => {
    const env = await readEnvelope(signed);
    const statement = JSON.parse(Buffer.from(env.payload, 'base64').toString()) as {
      predicate: { buildDefinition: { externalParameters: { lock: { digest: { sha256: string } } } } };
    };
    statement.predicate.buildDefinition.externalParameters.lock.digest.sha256 = '0'.repeat(64);
    const payload = Buffer.from(JSON.stringify(statement));
    for (const [who, k] of [
      ['another key', otherKey],
      ['the right key', key],
    ] as const) {
      const dir = await copySigned();
      const sig = await sshSignHere(k, 'kiln-provenance', paeHere(env.payloadType, payload));
      await writeEnvelope(dir, { payload: payload.toString('base64'), payloadType: env.payloadType, signatures: [{ sig: sig.toString('base64') }] });
      const v = await verifyJson(dir);
      expect(v.code, who).toBe(1);
      expect(v.failed.get('provenance statement'), who).toMatch(
        /^the statement differs from what kiln derives from manifest.json and SHA256SUMS in 1 place: predicate.buildDefinition.externalParameters.lock.digest.sha256: statement says "0{64}", expected "e{64}"$/,
      );
      if (k === otherKey)
        expect(v.failed.get('provenance signature')).toBe(
          `the statement in provenance.intoto.jsonl was signed by another key (ssh-ed25519 ${otherFp}), not the one --key trusts (${fp})`,
        );
      else expect(v.failed.has('provenance signature')).toBe(false);
    }
    // SHA256SUMS re-signed by another key
    const dir = await copySigned();
    await writeFile(join(dir, 'SHA256SUMS.sig'), armorHere(await sshSignHere(otherKey, 'file', await readFile(join(dir, 'SHA256SUMS')))));
    const v = await verifyJson(dir);
    expect(v.failed.get('SHA256SUMS signature')).toBe(`SHA256SUMS.sig was signed by another key (ssh-ed25519 ${otherFp}), not the one --key trusts (${fp})`);
  });

  it('with --device, ties the written device to the signature through the listed block map', async () => {
    const dev = join(work, 'device.bin');
    await cp(fixture.img, dev);
    const good = await kiln('verify', signed, '--device', dev, '--key', `${key}.pub`);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/^ok +SHA256SUMS signature /m);
    expect(good.stdout).toMatch(/^ok +SHA256SUMS fixture.bmap /m);
    expect(good.stdout).toMatch(/^ok +bmap ranges on device /m);
    const dir = await copySigned();
    await writeFile(join(dir, 'fixture.bmap'), `${await readFile(join(dir, 'fixture.bmap'), 'utf8')}<!-- edited -->\n`);
    const bad = await kiln('verify', dir, '--device', dev, '--key', `${key}.pub`);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL +SHA256SUMS fixture.bmap +listed [0-9a-f]{64}, file has [0-9a-f]{64}$/m);
  });

  it('says an unsigned build is unsigned when --key is given, and verifies it as before without', async () => {
    const v = await verifyJson(fixture.dir);
    expect(v.code).toBe(1);
    expect(v.failed.get('SHA256SUMS signature')).toMatch(/^no SHA256SUMS.sig: the build is unsigned \(kiln build --sign KEY/);
    expect(v.failed.get('provenance signature')).toMatch(/^no provenance.intoto.jsonl: the build is unsigned/);
    expect((await kiln('verify', '--no-files', fixture.dir)).code).toBe(0);
    const bare = await kiln('verify', fixture.img, '--key', `${key}.pub`);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('--key checks a build directory');
    const priv = await kiln('verify', signed, '--key', key);
    expect(priv.code).toBe(2);
    expect(priv.stderr).toContain('is a private key');
  });

  it('signs with an RSA key; refuses a passphrase-protected key, and a build whose files no longer match SHA256SUMS', async () => {
    const rsa = await keygen('rsa', ['-t', 'rsa', '-b', '2048', '-N', '']);
    const dir = join(work, 'rsa');
    await cp(fixture.dir, dir, { recursive: true });
    expect((await kiln('sign', dir, '--key', rsa)).code).toBe(0);
    const ok = await kiln('verify', '--no-files', dir, '--key', `${rsa}.pub`);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ok +SHA256SUMS signature +SHA256SUMS.sig verifies: signed by "kiln" with ssh-rsa /m);
    // the ed25519 key is not the RSA one
    expect((await kiln('verify', '--no-files', dir, '--key', `${key}.pub`)).code).toBe(1);

    const locked = await keygen('locked', ['-t', 'ed25519', '-N', 'secret']);
    const env = { ...process.env };
    delete process.env.SSH_AUTH_SOCK;
    try {
      const r = await kiln('sign', dir, '--key', locked);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--sign ${locked} is protected by a passphrase, and kiln does not prompt for one`);
      expect(r.stderr).toContain(`hint: ssh-add ${locked}, then give its public key`);
      const pub = await kiln('sign', dir, '--key', `${locked}.pub`);
      expect(pub.code).toBe(2);
      expect(pub.stderr).toContain('needs ssh-agent holding its private half, and SSH_AUTH_SOCK is not set');
      // kiln build checks the key before it reads the spec
      const b = await kiln('build', join(work, 'no-such-spec.yaml'), '--sign', locked);
      expect(b.code).toBe(2);
      expect(b.stderr).toContain('is protected by a passphrase');
    } finally {
      process.env.SSH_AUTH_SOCK = env.SSH_AUTH_SOCK;
      if (env.SSH_AUTH_SOCK === undefined) delete process.env.SSH_AUTH_SOCK;
    }

    const changed = join(work, 'changed');
    await cp(fixture.dir, changed, { recursive: true });
    await poke(join(changed, 'fixture.img'), 1000, Buffer.from('X'));
    const r = await kiln('sign', changed, '--key', key);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to sign .*changed: fixture.img has sha256 [0-9a-f]{64}, SHA256SUMS lists [0-9a-f]{64}/);
    expect(await stat(join(changed, 'SHA256SUMS.sig')).catch(() => undefined)).toBeUndefined();
  });

  it('signs through ssh-agent with a passphrase-protected key named by its .pub', async () => {
    const locked = await keygen('agent-held', ['-t', 'ed25519', '-N', 'secret']);
    const agent = await execa('ssh-agent', ['-s']);
    const sock = must(/SSH_AUTH_SOCK=([^;]+);/.exec(agent.stdout)?.[1], 'the agent socket');
    const pid = Number(must(/SSH_AGENT_PID=(\d+);/.exec(agent.stdout)?.[1], 'the agent pid'));
    const saved = process.env.SSH_AUTH_SOCK;
    try {
      const askpass = join(work, 'askpass');
      await writeFile(askpass, '#!/bin/sh\necho secret\n', { mode: 0o755 });
      await execa('ssh-add', [locked], { env: { SSH_AUTH_SOCK: sock, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }, input: '' });
      process.env.SSH_AUTH_SOCK = sock;
      const dir = join(work, 'agent-signed');
      await cp(fixture.dir, dir, { recursive: true });
      const r = await kiln('sign', dir, '--key', `${locked}.pub`);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect((await kiln('verify', '--no-files', dir, '--key', `${locked}.pub`)).code).toBe(0);
      // a key the agent does not hold is named before anything is signed
      const absent = await kiln('sign', dir, '--key', `${otherKey}.pub`);
      expect(absent.code).toBe(2);
      expect(absent.stderr).toContain(`ssh-agent (SSH_AUTH_SOCK) does not hold this key (${otherFp})`);
    } finally {
      if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = saved;
      process.kill(pid);
    }
  });

  it('the build signs its temp output dir between the manifest step and commit; a failed signature commits nothing', async () => {
    const names = BUILD_STEPS.map((s) => s.name);
    expect(names.slice(-3)).toEqual(['manifest', 'sign', 'commit']);

    const outRoot = join(work, 'out');
    await mkdir(outRoot, { recursive: true });
    /** Stands in for the steps before `sign`: a temp output dir beside the final one, as `workspace` and `manifest` leave it. */
    const prepared = (finalDir: string, seenBySign: string[]): Step => ({
      name: 'prepared',
      quiet: true,
      async run(ctx: BuildContext) {
        const out = await mkdtemp(join(outRoot, '.fixture.tmp-'));
        ctx.cleanups.push(() => rm(out, { recursive: true, force: true }));
        await cp(fixture.dir, out, { recursive: true });
        ctx.results.inputs = { finalDir } as StepResults['inputs'];
        ctx.results.workspace = { work: out, out, tree: out, bootDir: out };
        ctx.results.manifest = await readManifest(join(out, 'manifest.json'));
        seenBySign.push(out);
        return {};
      },
    });
    const events: BuildEvent[] = [];
    const opts = (signKey: Awaited<ReturnType<typeof loadSigningKey>>) => ({
      specFile: 'unused.yaml',
      outDir: outRoot,
      cacheRoot: join(work, 'cache'),
      report: (e: BuildEvent) => events.push(e),
      kilnVersion: '0.0.0-test',
      sign: signKey,
    });

    const finalDir = join(outRoot, 'fixture');
    const temps: string[] = [];
    const r = await build(opts(await loadSigningKey(key)), [prepared(finalDir, temps), signStep, commitStep]);
    expect(r.outDir).toBe(finalDir);
    expect(events.filter((e) => e.event === 'stage-done').map((e) => (e as { stage: string }).stage)).toEqual(['sign']);
    expect((await kiln('verify', '--no-files', finalDir, '--key', `${key}.pub`)).code).toBe(0);
    expect(await stat(must(temps[0], 'the temp dir')).catch(() => undefined)).toBeUndefined();

    // a key that stops working between the check and the signature: the build fails naming ssh-keygen, nothing is committed
    const doomed = await keygen('doomed');
    const doomedKey = await loadSigningKey(doomed);
    await chmod(doomed, 0o644); // ssh-keygen refuses a private key others can read
    const failedDir = join(outRoot, 'fixture-failed');
    const err = await build(opts(doomedKey), [prepared(failedDir, temps), signStep, commitStep]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^build stage "sign" failed: ssh-keygen -Y sign -n file -f \S+doomed failed \(exit 255\):/);
    expect((err as Error).message).toMatch(/UNPROTECTED PRIVATE KEY FILE|bad permissions/);
    expect(await stat(failedDir).catch(() => undefined)).toBeUndefined();
    expect(await stat(must(temps[1], 'the second temp dir')).catch(() => undefined)).toBeUndefined();
  });
});
