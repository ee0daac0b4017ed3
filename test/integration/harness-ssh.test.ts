import t from 'tap';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { DeviceSsh } from '../../harness/ssh/client.ts';
import { ensureLabKey } from '../../harness/ssh/keys.ts';

type SshServer = InstanceType<typeof ssh2.Server>;

/**
 * A stand-in for the device's dropbear: public-key auth for the lab key only, commands run by the
 * local shell, and no SFTP subsystem (as on the devices).
 */
async function startDevice(
  authorized: string,
  port = 0,
): Promise<{ server: SshServer; port: number; close: () => Promise<void> }> {
  const hostKey = ssh2.utils.generateKeyPairSync('ed25519').private;
  const allowed = ssh2.utils.parseKey(authorized) as ParsedKey;
  const conns = new Set<{ end(): void }>();
  const server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
    conns.add(client);
    client.on('error', () => {});
    client.on('close', () => conns.delete(client));
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey' || ctx.username !== 'root' || !ctx.key.data.equals(allowed.getPublicSSH()))
        return ctx.reject(['publickey']);
      if (!ctx.signature) return ctx.accept();
      return allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) ? ctx.accept() : ctx.reject();
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('subsystem', (_a, reject) => reject());
        session.on('exec', (accept, _reject, info) => {
          const stream = accept();
          const child = spawn('sh', ['-c', info.command], { stdio: ['pipe', 'pipe', 'pipe'] });
          stream.pipe(child.stdin);
          child.stdout.pipe(stream, { end: false });
          child.stderr.pipe(stream.stderr, { end: false });
          stream.on('close', () => child.kill());
          child.on('close', (code) => {
            stream.exit(code ?? 1);
            stream.end();
          });
        });
      });
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const actual = (server.address() as net.AddressInfo).port;
  return {
    server,
    port: actual,
    close: () =>
      new Promise<void>((r) => {
        for (const c of conns) c.end();
        server.close(() => r());
      }),
  };
}

t.test('exec, execOk and file transfer through cat', async (t) => {
  const dir = t.testdir({ remote: {} });
  const key = ensureLabKey(path.join(dir, 'lab'));
  const dev = await startDevice(key.publicKey);
  const ssh = new DeviceSsh({
    host: '127.0.0.1',
    port: dev.port,
    privateKey: fs.readFileSync(key.privateKeyPath),
    knownHostsFile: path.join(dir, 'known_hosts'),
  });
  t.teardown(async () => {
    ssh.close();
    await dev.close();
  });

  await ssh.waitReady({ timeoutMs: 5000, what: 'the test device' });
  t.match(
    fs.readFileSync(path.join(dir, 'known_hosts'), 'utf8'),
    new RegExp(`^\\[127\\.0\\.0\\.1\\]:${dev.port} SHA256:[A-Za-z0-9+/]{43}\\n$`),
    'host key trusted on first use',
  );

  t.same(await ssh.exec('echo hi; echo oops >&2; exit 3'), { stdout: 'hi\n', stderr: 'oops\n', code: 3 });
  t.equal(await ssh.execOk('printf %s "$((6*7))"'), '42');
  t.equal((await ssh.exec('cat', { stdin: 'fed in' })).stdout, 'fed in');
  await t.rejects(ssh.execOk('echo bad things >&2; exit 2'), {
    code: 'ssh-command-failed',
    message: /exited with 2 on 127\.0\.0\.1:\d+: bad things/,
  });
  await t.rejects(ssh.exec('sleep 5', { timeoutMs: 300 }), { code: 'ssh-exec-timeout' });

  const remote = path.join(dir, 'remote');
  const blob = crypto.randomBytes(300_000); // binary, several SSH window sizes
  await ssh.putFile(blob, path.join(remote, "it's a blob.bin"));
  t.ok(fs.readFileSync(path.join(remote, "it's a blob.bin")).equals(blob), 'putFile(Buffer) via cat, quoting survives');
  t.same(fs.readdirSync(remote), ["it's a blob.bin"], 'no temp file left');

  const local = path.join(dir, 'local.bin');
  fs.writeFileSync(local, blob.subarray(0, 1000));
  await ssh.putFile(local, path.join(remote, 'script.sh'), { mode: 0o755 });
  t.equal(fs.statSync(path.join(remote, 'script.sh')).mode & 0o777, 0o755, 'mode applied');

  const back = path.join(dir, 'back.bin');
  await ssh.getFile(path.join(remote, "it's a blob.bin"), back);
  t.ok(fs.readFileSync(back).equals(blob), 'getFile via cat');
  await t.rejects(ssh.getFile(path.join(remote, 'missing'), path.join(dir, 'x')), {
    code: 'ssh-command-failed',
    message: /No such file/,
  });
  t.notOk(fs.existsSync(path.join(dir, 'x')) || fs.existsSync(path.join(dir, 'x.part')), 'no partial local file');
});

t.test('transfer auto falls back to cat when there is no sftp-server', async (t) => {
  const dir = t.testdir();
  const key = ensureLabKey(path.join(dir, 'lab'));
  const dev = await startDevice(key.publicKey);
  const ssh = new DeviceSsh({
    host: '127.0.0.1',
    port: dev.port,
    privateKey: fs.readFileSync(key.privateKeyPath),
    knownHostsFile: path.join(dir, 'kh'),
    transfer: 'auto',
  });
  t.teardown(async () => {
    ssh.close();
    await dev.close();
  });
  await ssh.putFile(Buffer.from('via fallback'), path.join(dir, 'f.txt'));
  t.equal(fs.readFileSync(path.join(dir, 'f.txt'), 'utf8'), 'via fallback');
});

t.test('a changed host key is refused (TOFU)', async (t) => {
  const dir = t.testdir();
  const key = ensureLabKey(path.join(dir, 'lab'));
  const knownHostsFile = path.join(dir, 'known_hosts');
  const first = await startDevice(key.publicKey);
  const port = first.port;
  const a = new DeviceSsh({
    host: '127.0.0.1',
    port,
    privateKey: fs.readFileSync(key.privateKeyPath),
    knownHostsFile,
    hostKeyAlias: 'dev1',
  });
  await a.execOk('true');
  a.close();
  await first.close();

  // "re-flashed": same device, new host key
  const second = await startDevice(key.publicKey, port);
  t.teardown(() => second.close());
  const b = new DeviceSsh({
    host: '127.0.0.1',
    port,
    privateKey: fs.readFileSync(key.privateKeyPath),
    knownHostsFile,
    hostKeyAlias: 'dev1',
  });
  const started = Date.now();
  const err = (await b.waitReady({ timeoutMs: 10_000 }).catch((e: unknown) => e)) as {
    code: string;
    message: string;
    hint: string;
  };
  t.equal(err.code, 'ssh-hostkey-changed');
  t.match(err.message, /host key of dev1 changed: expected SHA256:\S+, got SHA256:\S+/);
  t.equal(err.hint, `the device was re-flashed? delete ${knownHostsFile} to trust the new key`);
  t.ok(Date.now() - started < 5000, 'no retrying against a changed key');
  b.close();
});

t.test('waitReady times out naming the address and the last error', async (t) => {
  const dir = t.testdir();
  const key = ensureLabKey(path.join(dir, 'lab'));
  // a port nobody listens on
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const ssh = new DeviceSsh({
    host: '127.0.0.1',
    port,
    privateKey: fs.readFileSync(key.privateKeyPath),
    knownHostsFile: path.join(dir, 'kh'),
  });
  const started = Date.now();
  await t.rejects(ssh.waitReady({ timeoutMs: 2000, what: 'SSH of dev9' }), {
    code: 'ssh-timeout',
    message: new RegExp(
      `timed out after \\d+(\\.\\d)?s waiting for SSH of dev9 on 127\\.0\\.0\\.1:${port}; last error: .*ECONNREFUSED`,
    ),
  });
  const took = Date.now() - started;
  t.ok(took >= 1500 && took < 6000, `gave up on time (${took} ms)`);
});

t.test('a key the device does not accept is reported', async (t) => {
  const dir = t.testdir();
  const key = ensureLabKey(path.join(dir, 'lab'));
  const other = ensureLabKey(path.join(dir, 'other-lab'));
  const dev = await startDevice(other.publicKey);
  t.teardown(() => dev.close());
  const ssh = new DeviceSsh({
    host: '127.0.0.1',
    port: dev.port,
    privateKey: fs.readFileSync(key.privateKeyPath),
    knownHostsFile: path.join(dir, 'kh'),
  });
  await t.rejects(ssh.waitReady({ timeoutMs: 1500 }), {
    code: 'ssh-timeout',
    message: /authentication methods failed/,
  });
});
