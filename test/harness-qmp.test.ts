import t from 'tap';
import net from 'node:net';
import path from 'node:path';
import { QmpClient, QmpError, type QmpEvent } from '../harness/qemu/qmp.ts';

/**
 * A fake QMP server that answers like QEMU but writes its replies in awkward pieces: several
 * messages in one chunk, one message split over chunks, and an event between reply fragments.
 */
async function fakeQmp(
  dir: string,
  received: Record<string, unknown>[],
): Promise<{ sock: string; server: net.Server }> {
  const sock = path.join(dir, 'qmp.sock');
  const server = net.createServer((c) => {
    // One queue for the whole connection: fragments of two replies must never interleave.
    const queue: string[] = [];
    let busy = false;
    const pump = () => {
      const part = queue.shift();
      if (part === undefined) {
        busy = false;
        return;
      }
      busy = true;
      c.write(part);
      setTimeout(pump, 5); // a pause per part, so the client sees real chunk boundaries
    };
    const send = (...parts: string[]) => {
      queue.push(...parts);
      if (!busy) pump();
    };
    send('{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabi', 'lities": []}}\r\n');
    let buf = '';
    c.on('data', (d) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const msg = JSON.parse(buf.slice(0, nl)) as { execute: string; id?: string; arguments?: unknown };
        buf = buf.slice(nl + 1);
        received.push(msg);
        const id = JSON.stringify(msg.id);
        switch (msg.execute) {
          case 'qmp_capabilities':
            send(`{"return": {}, "id": ${id}}\r\n`);
            break;
          case 'query-status': {
            const reply = `{"return": {"status": "running", "singlestep": false, "running": true}, "id": ${id}}\r\n`;
            send(reply.slice(0, 10), reply.slice(10, 30), reply.slice(30));
            break;
          }
          case 'system_reset':
            // event and reply in one chunk, followed by a second event
            send(
              `{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESET", "data": {"guest": false, "reason": "host-qmp-system-reset"}}\r\n{"return": {}, "id": ${id}}\r\n{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 3}}\r\n`,
            );
            break;
          case 'set_link':
            send(`{"error": {"class": "DeviceNotFound", "desc": "Device 'nope' not found"}, "id": ${id}}\r\n`);
            break;
          case 'quit':
            c.destroy(); // QEMU may exit before its reply reaches us
            break;
          default:
            send(
              `{"error": {"class": "CommandNotFound", "desc": "The command ${msg.execute} has not been found"}, "id": ${id}}\r\n`,
            );
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  return { sock, server };
}

t.test('QMP client over a fragmenting server', async (t) => {
  const dir = t.testdir();
  const received: Record<string, unknown>[] = [];
  const { sock, server } = await fakeQmp(dir, received);
  t.teardown(() => server.close());

  const qmp = await QmpClient.connect(sock);
  t.match(qmp.greeting, { QMP: { version: { qemu: { major: 7 } } } }, 'greeting parsed across chunks');
  t.equal(received[0]?.execute, 'qmp_capabilities', 'capabilities negotiated first');

  t.same(await qmp.queryStatus(), { status: 'running', singlestep: false, running: true }, 'split reply reassembled');

  const events: QmpEvent[] = [];
  qmp.on('event', (e: QmpEvent) => events.push(e));
  const resetData = new Promise((r) => qmp.once('RESET', r));
  const stop = qmp.waitEvent('STOP', 2000);
  await qmp.systemReset();
  t.match(await resetData, { reason: 'host-qmp-system-reset' }, 'named event emitted with its data');
  await stop;
  t.same(
    events.map((e) => e.event),
    ['RESET', 'STOP'],
    'all messages of one chunk handled, in order',
  );

  const err = await qmp.setLink('nope', false).catch((e: unknown) => e);
  t.ok(err instanceof QmpError, 'QMP error reply rejects with QmpError');
  t.match((err as QmpError).message, /Device 'nope' not found/, 'message carries the QMP desc');
  t.equal((err as QmpError).qmpClass, 'DeviceNotFound');
  t.match(received.at(-1), { execute: 'set_link', arguments: { name: 'nope', up: false } });

  await t.rejects(qmp.execute('bogus'), { code: 'qmp-error', message: /has not been found/ });

  // replies interleaved: two commands in flight get their own answers
  const [a, b] = await Promise.all([qmp.queryStatus(), qmp.execute('qmp_capabilities')]);
  t.equal(a.status, 'running');
  t.same(b, {});

  await qmp.quit();
  t.ok(
    qmp.isClosed || (await new Promise((r) => qmp.once('close', () => r(true)))),
    'quit treats a closed socket as success',
  );
  await t.rejects(qmp.queryStatus(), { code: 'qmp-closed' }, 'commands after close are refused');
});

t.test('connect to a missing socket gives a clear error', async (t) => {
  const dir = t.testdir();
  await t.rejects(QmpClient.connect(path.join(dir, 'none.sock'), { timeoutMs: 300 }), {
    code: 'qmp-connect',
    message: /none\.sock/,
  });
});
