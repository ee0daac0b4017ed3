/**
 * The dashboard's server side: the session cookie of the event stream, the live feed over the
 * records, and the routes on a real backend: the page without credentials, the event stream and
 * its session only with the operator's, and a device event after a registration.
 */
import t from 'tap';
import { MemoryDeviceRecords } from '../harness/backend/device-records.ts';
import { startBackend } from '../harness/backend/index.ts';
import type { StreamSink } from '../harness/backend/reply.ts';
import { prepareDashboard } from '../harness/dashboard/index.ts';
import { LiveFeed } from '../harness/dashboard/live.ts';
import { cookieValue, Sessions } from '../harness/dashboard/sessions.ts';
import { watchRecords } from '../harness/dashboard/watch.ts';
import { CONSOLE_LINES_DEFAULT, CONSOLE_LINES_MAX, SESSION_COOKIE } from '../harness/dashboard/wire.ts';
import { ConsoleReader } from '../harness/server/consoles.ts';

t.test('sessions: a random cookie for the event stream only, HttpOnly, good until it expires', async (t) => {
  let now = 1_000_000;
  const s = new Sessions(600, () => now);
  const set = s.create();
  t.match(set, new RegExp(`^${SESSION_COOKIE}=[0-9a-f]{64}; Path=/v1/events; Max-Age=600; HttpOnly; SameSite=Strict$`));
  const id = cookieValue(set.split(';')[0], SESSION_COOKIE)!;
  t.ok(s.valid(`other=1; ${SESSION_COOKIE}=${id}`));
  t.notOk(s.valid(`${SESSION_COOKIE}=${'0'.repeat(64)}`), 'an id it never gave');
  t.notOk(s.valid(`${SESSION_COOKIE}=${id.toUpperCase()}x`), 'not an id');
  t.notOk(s.valid(undefined));
  now += 600_001;
  t.notOk(s.valid(`${SESSION_COOKIE}=${id}`), 'expired');
});

class Sink implements StreamSink {
  text = '';
  closed = false;
  private listeners: Array<() => void> = [];
  write(text: string) {
    if (this.closed) return false;
    this.text += text;
    return true;
  }
  end() {
    this.close();
  }
  onClose(l: () => void) {
    this.listeners.push(l);
  }
  close() {
    this.closed = true;
    for (const l of this.listeners) l();
  }
  events(): Array<{ event: string; data: unknown }> {
    return [...this.text.matchAll(/event: (\w+)\ndata: (.*)\n\n/g)].map((m) => ({
      event: m[1]!,
      data: JSON.parse(m[2]!),
    }));
  }
}

t.test('the live feed: a snapshot, then rows that changed; a heartbeat alone only now and then', async (t) => {
  let now = Date.parse('2026-12-04T10:00:00Z');
  const iso = () => new Date(now).toISOString();
  const watched = watchRecords(new MemoryDeviceRecords());
  const { records } = watched;
  const feed = new LiveFeed(records, { now: () => now, seenMs: 10_000, flushMs: 1_000_000 });
  watched.onChange((uuid) => feed.changed(uuid));
  records.register({ uuid: 'a1', name: 'a', deviceType: 'generic-amd64', arch: 'amd64' }, iso());
  const sink = new Sink();
  feed.connect(sink);
  t.same(
    sink.events().map((e) => e.event),
    ['snapshot'],
  );
  t.equal((sink.events()[0]!.data as { devices: unknown[] }).devices.length, 1);
  t.equal(feed.listeners, 1);

  records.reportState('a1', { osVersion: '2.101.0', supervisorVersion: '16.8.0', status: 'Idle' }, iso());
  feed.flush();
  let last = sink.events().at(-1)!;
  t.equal(last.event, 'device');
  t.match(last.data, { uuid: 'a1', osVersion: '2.101.0', online: true });

  now += 5_000;
  records.reportState('a1', {}, iso());
  feed.flush();
  t.equal(sink.events().length, 2, 'a heartbeat that changed only the time is not sent at once');
  now += 6_000;
  records.touch('a1', iso());
  feed.flush();
  t.equal(sink.events().length, 3, 'but again after seenMs');

  records.setTarget('a1', { supervisorVersion: '16.9.0', setAt: iso(), supervisorSetAt: iso() });
  now += 1;
  records.addProgress('a1', { percent: 30, message: 'pulling', at: iso() });
  feed.flush();
  last = sink.events().at(-1)!;
  t.match(last.data, { progress: { percent: 30, message: 'pulling' }, targetProgress: 'in-progress' });

  now += 60_000;
  feed.sweep();
  last = sink.events().at(-1)!;
  t.match(last.data, { uuid: 'a1', online: false }, 'silence makes it offline, found by the sweep');

  const count = sink.events().length;
  t.equal(count, 5, 'snapshot, state, heartbeat after seenMs, progress, offline');
  sink.close();
  t.equal(feed.listeners, 0);
  records.reportState('a1', { status: 'Idle' }, iso());
  feed.flush();
  t.equal(sink.events().length, count, 'nothing is written to a page that went away');
  feed.stop();
});

t.test('the routes on the API port: open page, authenticated stream and session, policy', async (t) => {
  const dashboard = await prepareDashboard({
    records: new MemoryDeviceRecords(),
    facts: async () => [
      { version: '2.102.0', date: '2026-11-09T00:00:00Z', line: 'rolling', deviceTypes: ['generic-amd64'] },
      { version: '2.103.0', date: '2026-11-30T00:00:00Z', line: 'rolling', deviceTypes: ['generic-amd64'] },
    ],
  });
  const backend = await startBackend({ records: dashboard.records, apiExtension: dashboard.extension });
  t.teardown(async () => {
    dashboard.stop();
    await backend.stop();
  });
  const api = backend.urls.api;
  const op = backend.operatorHeaders();

  const page = await fetch(`${api}/`);
  t.equal(page.status, 200, 'the page needs no credentials');
  t.match(await page.text(), /<script type="module" src="\/dashboard\/app\.js/);
  t.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  const js = await fetch(`${api}/dashboard/app.js`);
  t.equal(js.status, 200);
  t.ok((await js.text()).length > 10_000, 'the bundle (Preact, htm and the page)');

  const anon = await fetch(`${api}/v1/events`);
  t.equal(anon.status, 401, 'no credentials: refused');
  await anon.body?.cancel();
  const forged = await fetch(`${api}/v1/events`, { headers: { cookie: `${SESSION_COOKIE}=${'a'.repeat(64)}` } });
  t.equal(forged.status, 401, 'a cookie it never gave: refused');
  await forged.body?.cancel();
  t.equal((await fetch(`${api}/v1/dashboard/session`, { method: 'POST' })).status, 401);

  const key = backend.registerDevice('dev1');
  const asDevice = await fetch(`${api}/v1/dashboard/session`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
  });
  t.equal(asDevice.status, 403, 'a device key is not the operator');
  const deviceEvents = await fetch(`${api}/v1/events`, { headers: { authorization: `Bearer ${key}` } });
  t.equal(deviceEvents.status, 403);

  const session = await fetch(`${api}/v1/dashboard/session`, { method: 'POST', headers: op });
  t.equal(session.status, 204);
  const cookie = (session.headers.get('set-cookie') ?? '').split(';')[0]!;
  t.match(cookie, new RegExp(`^${SESSION_COOKIE}=[0-9a-f]{64}$`));
  t.notMatch(session.headers.get('set-cookie'), backend.auth.operatorToken, 'the cookie is not the token');
  const elsewhere = await fetch(`${api}/v1/fleet`, { headers: { cookie } });
  t.equal(elsewhere.status, 401, 'the cookie opens the event stream only');

  const ac = new AbortController();
  const stream = await fetch(`${api}/v1/events`, { headers: { cookie }, signal: ac.signal });
  t.equal(stream.status, 200);
  t.match(stream.headers.get('content-type'), /^text\/event-stream/);
  const reader = stream.body!.getReader();
  let text = '';
  const until = async (re: RegExp) => {
    const deadline = Date.now() + 10_000;
    while (!re.test(text) && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    return re.test(text);
  };
  t.ok(await until(/event: snapshot\ndata: \{"devices":\[\]\}/), 'the snapshot first');
  const reg = await fetch(`${api}/v1/devices`, {
    method: 'POST',
    headers: { ...op, 'content-type': 'application/json' },
    body: JSON.stringify({
      uuid: 'dev2',
      name: 'd2',
      deviceType: 'generic-amd64',
      arch: 'amd64',
      osVersion: '2.102.0',
    }),
  });
  t.equal(reg.status, 201);
  t.ok(await until(/event: device\ndata: \{"uuid":"dev2","name":"d2"/), 'a registration arrives as a device event');
  ac.abort();
  await reader.cancel().catch(() => {});

  const withToken = await fetch(`${api}/v1/events`, { headers: op });
  t.equal(withToken.status, 200, 'the operator token opens it too (curl, scripts)');
  await withToken.body?.cancel();

  const policy = await fetch(`${api}/v1/policy?deviceType=generic-amd64&at=2026-12-04`, { headers: op });
  t.equal(policy.status, 200);
  const report = (await policy.json()) as {
    deviceTypes: Array<{ releases: Array<{ version: string; phase: string }> }>;
  };
  t.same(
    report.deviceTypes[0]!.releases.map((r) => [r.version, r.phase]),
    [
      ['2.102.0', 'superseded'],
      ['2.103.0', 'latest'],
    ],
  );
  t.equal((await fetch(`${api}/v1/policy?deviceType=nope`, { headers: op })).status, 404);
  t.equal((await fetch(`${api}/v1/policy?at=2026-02-30`, { headers: op })).status, 400);
  t.equal((await fetch(`${api}/v1/policy`)).status, 401);
});

t.test('watched records: each write names its device; reads, even ones added later, pass through', async (t) => {
  const inner = Object.assign(new MemoryDeviceRecords(), { later: (uuid: string) => `read ${uuid}` });
  const watched = watchRecords(inner);
  const seen: string[] = [];
  watched.onChange((uuid) => seen.push(uuid));
  const at = '2026-12-04T10:00:00.000Z';
  watched.records.register({ uuid: 'a1', name: 'a', deviceType: 'generic-amd64', arch: 'amd64' }, at);
  t.equal(watched.records.reportState('nope', { status: 'Idle' }, at), undefined);
  watched.records.addProgress('a1', { percent: 5, message: 'x', at });
  t.equal(watched.records.history('a1').length, 1);
  t.equal((watched.records as typeof inner).later('a1'), 'read a1');
  t.same(seen, ['a1', 'a1'], 'a report for a device not registered changed nothing');
});

t.test("a device's console: the last lines of its serial log, cleaned, only for the operator", async (t) => {
  const lab = t.testdir({
    devices: {
      board: {
        'provision.json': JSON.stringify({ uuid: 'u-board', name: 'board' }),
        // A boot, its escape sequences and carriage returns, and a log longer than the part read.
        'serial.log': `${'early boot line\n'.repeat(8000)}\x1b[2J\x1b[1;1HU-Boot 2024.01\r\nStarting kernel ...\r\n\x07login: \n\n`,
      },
      other: { 'provision.json': JSON.stringify({ uuid: 'u-other', name: 'other' }) },
    },
  });
  const reader = new ConsoleReader(lab);
  const tail = reader.tail('u-board', 3)!;
  t.same(tail.lines, ['early boot line', 'U-Boot 2024.01', 'Starting kernel ...', 'login:'].slice(-3));
  t.ok(tail.bytes > 64 * 1024, 'the log is longer than what was read');
  t.equal(reader.tail('u-board', 10_000)!.lines.length, CONSOLE_LINES_MAX, 'at most the most it gives');
  const text = reader.tail('u-board', 1000)!.lines.join('\n');
  t.notOk(
    [...text].some((ch) => ch !== '\n' && ch.charCodeAt(0) < 32),
    'no control characters left',
  );
  t.equal(reader.tail('u-other', 3), undefined, 'a device without a console yet');
  t.equal(reader.tail('u-ghost', 3), undefined);

  const records = new MemoryDeviceRecords();
  for (const uuid of ['u-board', 'u-other'])
    records.register({ uuid, name: uuid, deviceType: 'raspberrypi3', arch: 'arm64' }, new Date().toISOString());
  const dashboard = await prepareDashboard({
    records,
    facts: async () => [],
    consoles: (uuid, lines) => reader.tail(uuid, lines),
  });
  const backend = await startBackend({ records: dashboard.records, apiExtension: dashboard.extension });
  t.teardown(async () => {
    dashboard.stop();
    await backend.stop();
  });
  const api = backend.urls.api;
  const op = backend.operatorHeaders();
  const r = await fetch(`${api}/v1/devices/u-board/console?lines=2`, { headers: op });
  t.equal(r.status, 200);
  t.same(((await r.json()) as { lines: string[] }).lines, ['Starting kernel ...', 'login:']);
  const byDefault = (await (await fetch(`${api}/v1/devices/u-board/console`, { headers: op })).json()) as {
    lines: string[];
  };
  t.equal(byDefault.lines.length, CONSOLE_LINES_DEFAULT);
  t.equal((await fetch(`${api}/v1/devices/u-board/console?lines=0`, { headers: op })).status, 400);
  t.equal((await fetch(`${api}/v1/devices/u-board/console?lines=x`, { headers: op })).status, 400);
  const none = await fetch(`${api}/v1/devices/u-other/console`, { headers: op });
  t.equal(none.status, 200, 'a device without a console: no lines and why (the page asks for every device)');
  t.match(await none.json(), { lines: [], none: /holds no serial console of this device/ });
  const missing = await fetch(`${api}/v1/devices/u-ghost/console`, { headers: op });
  t.equal(missing.status, 404);
  t.match(((await missing.json()) as { error: string }).error, /device u-ghost is not registered/);
  t.equal((await fetch(`${api}/v1/devices/u-board/console`)).status, 401, 'no credentials');
  const key = backend.registerDevice('u-board');
  const own = await fetch(`${api}/v1/devices/u-board/console`, { headers: { authorization: `Bearer ${key}` } });
  t.equal(own.status, 403, "not even the device's own key: the console may show what it typed");
});
