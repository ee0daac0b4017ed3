import t, { type Test } from 'tap';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ConsoleTimeoutError, SerialConsole } from '../harness/console/log-console.ts';
import { cleanConsoleText } from '../harness/console/clean.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup(t: Test) {
  const dir = t.testdir();
  const logPath = path.join(dir, 'serial.log');
  // unix socket paths are limited to 107 bytes and tap's fixture folders are long
  const sockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'huplab-con-'));
  t.teardown(() => fs.rmSync(sockDir, { recursive: true, force: true }));
  const sockPath = path.join(sockDir, 'serial.sock');
  const con = new SerialConsole(logPath, sockPath, { name: 'dev1/ttyS0', pollMs: 20 });
  const append = (s: string | Buffer) => fs.appendFileSync(logPath, s);
  return { dir, logPath, sockPath, con, append };
}

t.test('matches across chunk boundaries and escape sequences', async (t) => {
  const { con, append } = setup(t);
  t.equal(con.mark(), 0, 'no log yet');
  const p = con.expect('[huplab] os ready', { timeoutMs: 3000, what: 'the OS' });
  await sleep(60);
  append('\x1b[2J\x1b[01;01Hboot...\r\n[huplab] os');
  await sleep(60);
  append(' re');
  await sleep(60);
  append('ady\r\nafter\r\n');
  const r = await p;
  t.equal(r.match, '[huplab] os ready');
  const raw = fs.readFileSync(con.logPath, 'latin1');
  t.equal(r.offset, raw.indexOf('ready') + 'ready'.length, 'offset is the raw byte offset after the match');

  // an escape split over two appends is still removed
  const m = con.mark();
  const p2 = con.expect(/BdsDxe: (\w+)/, { timeoutMs: 3000, what: 'firmware' });
  append('\x1b[1;3');
  await sleep(50);
  append('3mBds\x1b[0mDxe: loading Boot0001\r\n');
  const r2 = await p2;
  t.equal(r2.match, 'BdsDxe: loading');
  t.same(r2.groups, ['loading']);
  t.ok(r2.offset > m);
});

t.test('since: old output is ignored by default, found with an earlier offset', async (t) => {
  const { con, append } = setup(t);
  append('first boot: [huplab] bootloader: booting resin-rootA\n');
  const mark = con.mark();
  await t.rejects(
    con.expect('bootloader: booting', { timeoutMs: 200, what: 'the bootloader' }),
    { code: 'console-timeout' },
    'default since = now',
  );
  const r = await con.expect('bootloader: booting', { timeoutMs: 200, since: 0, what: 'the bootloader' });
  t.ok(r.offset <= mark);

  // two markers in one write: chaining with the returned offset finds the second, not the first again
  append('A1 marker-x A2 marker-x end\n');
  const first = await con.expect(/marker-x/, { since: mark, timeoutMs: 500, what: 'first' });
  const second = await con.expect(/marker-x/g, { since: first.offset, timeoutMs: 500, what: 'second' });
  t.ok(second.offset > first.offset, 'second occurrence found after the first');
  t.equal(con.text(second.offset), ' end\n');
});

t.test('timeout error names what was awaited and shows the last lines', async (t) => {
  const { con, append, logPath } = setup(t);
  for (let i = 1; i <= 30; i++) append(`\x1b[0mline ${i}\r\n`);
  const err = (await con
    .expect('never', { timeoutMs: 300, what: 'the OS to report ready' })
    .catch((e: unknown) => e)) as ConsoleTimeoutError;
  t.ok(err instanceof ConsoleTimeoutError);
  t.equal(err.code, 'console-timeout');
  t.match(
    err.message,
    /^timed out after 0\.\ds waiting for the OS to report ready \("never"\) on dev1\/ttyS0; last console lines:\n/,
  );
  t.match(err.message, /line 16\nline 17\n[\s\S]*line 30$/);
  t.notMatch(err.message, /line 15\n/, 'only the last 15 lines');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for escape characters
  t.notMatch(err.message, /\x1b|\r/, 'escape sequences stripped');
  const one = err.oneLine();
  t.notMatch(one, /\n/, 'oneLine is one line');
  t.match(
    one,
    /waiting for the OS to report ready .* last console line: "line 30" \(full console log: .*serial\.log\)/,
  );
  t.equal(err.hint, `full console log: ${logPath}`);
});

t.test('abort signal stops a wait early', async (t) => {
  const { con } = setup(t);
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('vm died')), 50);
  const started = Date.now();
  await t.rejects(con.expect('x', { timeoutMs: 5000, what: 'x', signal: ac.signal }), { message: 'vm died' });
  t.ok(Date.now() - started < 2000, 'well before the 5 s timeout');
});

t.test('lastLines, text and cleaning', async (t) => {
  const { con, append } = setup(t);
  append('a\r\nb\r\n\x1b]0;title\x07c\x1b(Bd\r\n\r\n');
  t.same(con.lastLines(2), ['b', 'cd']);
  t.equal(con.text(), 'a\nb\ncd\n\n');
  t.equal(cleanConsoleText('\x1b[=3h\x1b[2JShell> \x1b[0m\x1b[37m\x1b[40mok'), 'Shell> ok');
  t.equal(cleanConsoleText(Buffer.from('h\u00e9llo \u2713\r\n')), 'h\u00e9llo \u2713\n', 'UTF-8 kept');
});

t.test('write goes through the socket, reconnecting after a drop', async (t) => {
  const { con, sockPath } = setup(t);
  let got = '';
  const clients: net.Socket[] = [];
  const server = net.createServer((c) => {
    clients.push(c);
    c.write('console output the writer must drain\n');
    c.on('data', (d) => (got += d.toString()));
  });
  await new Promise<void>((r) => server.listen(sockPath, r));
  t.teardown(() => {
    con.close();
    server.close();
  });
  await con.write('root\n');
  await sleep(50);
  t.equal(got, 'root\n');
  clients[0]!.destroy(); // like QEMU dropping the client
  await sleep(50);
  await con.write(Buffer.from('ls\n'));
  await sleep(50);
  t.equal(got, 'root\nls\n');
  t.equal(clients.length, 2, 'reconnected');
});

t.test('write to a missing socket is a clear error', async (t) => {
  const { con } = setup(t);
  await t.rejects(con.write('x'), { code: 'console-connect', message: /dev1\/ttyS0/ });
});
