import t from 'tap';
import net from 'node:net';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialBridge } from '../harness/board/serial-bridge.ts';
import { isHuplabError } from '../lib/errors.ts';

// A stand-in TCP serial server (unit test only; suites/board-driver.spec.ts drives a real guest
// console over TCP and over a pty).
function server(): Promise<{ port: number; sockets: net.Socket[]; received: Buffer[]; close(): void }> {
  const sockets: net.Socket[] = [];
  const received: Buffer[] = [];
  const s = net.createServer((c) => {
    sockets.push(c);
    c.on('data', (d) => received.push(d));
    c.on('error', () => undefined);
  });
  return new Promise((resolve) =>
    s.listen(0, '127.0.0.1', () =>
      resolve({
        port: (s.address() as net.AddressInfo).port,
        sockets,
        received,
        close: () => {
          for (const c of sockets) c.destroy();
          s.close();
        },
      }),
    ),
  );
}

const until = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 20));
  }
};

t.test('logs what the board prints, forwards what is typed, and reconnects a dropped server', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'huplab-bridge-'));
  const srv = await server();
  const bridge = new SerialBridge({
    name: 'b1',
    source: { tcp: `127.0.0.1:${srv.port}` },
    logPath: join(dir, 'serial.log'),
    socketPath: join(dir, 'serial.sock'),
    reconnectMs: 50,
  });
  t.teardown(() => {
    srv.close();
    void bridge.close();
  });
  await bridge.start();
  await until(() => srv.sockets.length === 1);
  srv.sockets[0]!.write('U-Boot 2023.01\r\n');
  await until(() => bridge.bytesIn >= 16);
  // A client of the unix socket (what SerialConsole.write uses) types; it also hears the board.
  const client = net.connect(join(dir, 'serial.sock'));
  const heard: Buffer[] = [];
  client.on('data', (d) => heard.push(d));
  await new Promise((r) => client.once('connect', r));
  client.write('root\n');
  await until(() => Buffer.concat(srv.received).toString() === 'root\n');
  srv.sockets[0]!.write('login: ');
  await until(() => Buffer.concat(heard).toString().includes('login: '));
  // The server drops us (ser2net restarted): the bridge comes back on its own.
  srv.sockets[0]!.destroy();
  await until(() => srv.sockets.length === 2);
  srv.sockets[1]!.write('again\n');
  await until(() => bridge.bytesIn >= 16 + 7 + 6);
  bridge.write('direct\n');
  await until(() => Buffer.concat(srv.received).toString().endsWith('direct\n'));
  client.destroy();
  await bridge.close();
  t.equal(
    await readFile(join(dir, 'serial.log'), 'utf8'),
    'U-Boot 2023.01\r\nlogin: again\n',
    'everything the board printed, in order, across the reconnect',
  );
});

t.test('a console that is not there is a one-line error saying what to check', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'huplab-bridge-'));
  const port = new SerialBridge({
    name: 'b2',
    source: { path: join(dir, 'ttyUSB9'), baud: 115200 },
    logPath: join(dir, 'l'),
    socketPath: join(dir, 's'),
  });
  const e1 = await port.start().catch((e: Error) => e);
  t.ok(isHuplabError(e1, 'serial-missing'));
  t.match((e1 as Error).message, /cannot open the console .*ttyUSB9 of b2/);
  await port.close();
  const tcp = new SerialBridge({
    name: 'b3',
    source: { tcp: '127.0.0.1:1' },
    logPath: join(dir, 'l2'),
    socketPath: join(dir, 's2'),
  });
  const e2 = await tcp.start().catch((e: Error) => e);
  t.ok(isHuplabError(e2, 'serial-server-unreachable'));
  t.match((e2 as Error).message, /cannot reach the console server 127\.0\.0\.1:1 of b3/);
  await tcp.close();
});
