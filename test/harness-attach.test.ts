import t, { type Test } from 'tap';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { attachTerminal } from '../harness/console/attach.ts';

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

async function fakeSerial(t: Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huplab-attach-')); // short: unix socket path limit
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sockPath = path.join(dir, 'serial.sock');
  const state = { received: '', closed: false, client: undefined as net.Socket | undefined };
  const server = net.createServer((c) => {
    state.client = c;
    c.write('hello from guest\r\n');
    c.on('data', (d) => (state.received += d.toString('latin1')));
    c.on('close', () => (state.closed = true));
  });
  await new Promise<void>((r) => server.listen(sockPath, r));
  t.teardown(() => server.close());
  return { sockPath, state };
}

function terminal() {
  const stdin = new PassThrough() as unknown as NodeJS.ReadStream & PassThrough;
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out = { stdout: '', stderr: '' };
  stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  return { stdin, stdout, stderr, out };
}

t.test('keys to the device, output to the terminal, ctrl-] detaches', async (t) => {
  const { sockPath, state } = await fakeSerial(t);
  const term = terminal();
  const session = attachTerminal(sockPath, {
    name: 'dev1',
    stdin: term.stdin,
    stdout: term.stdout,
    stderr: term.stderr,
  });
  await until(() => term.out.stdout.includes('hello from guest'));
  t.equal(term.out.stderr, '[huplab] attached to dev1 console; ctrl-] to detach\r\n');
  term.stdin.write('ls\r');
  await until(() => state.received === 'ls\r');
  term.stdin.write(Buffer.from([0x61, 0x1d, 0x62])); // "a", ctrl-], "b"
  t.equal(await session, 'detached');
  await until(() => state.closed);
  t.equal(state.received, 'ls\ra', 'bytes before ctrl-] are sent, nothing after');
  t.match(term.out.stderr, /detached from dev1; it keeps running/);
});

t.test('the device going away ends the session', async (t) => {
  const { sockPath, state } = await fakeSerial(t);
  const term = terminal();
  const session = attachTerminal(sockPath, {
    name: 'dev2',
    stdin: term.stdin,
    stdout: term.stdout,
    stderr: term.stderr,
  });
  await until(() => state.client !== undefined);
  state.client!.destroy();
  t.equal(await session, 'closed');
});

t.test('attaching to a device that is not running is a clear error', async (t) => {
  const term = terminal();
  await t.rejects(
    attachTerminal('/tmp/huplab-no-such.sock', {
      name: 'dev3',
      stdin: term.stdin,
      stdout: term.stdout,
      stderr: term.stderr,
    }),
    {
      code: 'console-connect',
      message: /dev3/,
    },
  );
});
