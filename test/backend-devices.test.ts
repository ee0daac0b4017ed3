import t from 'tap';
import { ONLINE_WINDOW_MS, withOnline } from '../harness/backend/device-records.ts';
import { startBackend } from '../harness/backend/index.ts';

// Device registration and heartbeats at the API (the per-run backend: records in memory).

t.test('the operator registers a device; its key reports its state and progress, and reads its record', async (t) => {
  const backend = await startBackend();
  t.teardown(() => backend.stop());
  const api = backend.urls.api;
  const op = { ...backend.operatorHeaders(), 'Content-Type': 'application/json' };
  const send = (method: string, path: string, headers: Record<string, string>, body?: unknown) =>
    fetch(`${api}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

  const reg = await send('POST', '/v1/devices', op, {
    name: 'bench-1',
    deviceType: 'generic-amd64',
    arch: 'amd64',
    osVersion: '2.101.0',
    supervisorVersion: '14.0.0',
  });
  t.equal(reg.status, 201);
  const { uuid, deviceApiKey, device } = (await reg.json()) as {
    uuid: string;
    deviceApiKey: string;
    device: Record<string, unknown>;
  };
  t.match(uuid, /^[0-9a-f]{32}$/, 'a fresh uuid when none is given');
  t.match(deviceApiKey, /^[0-9a-f]{64}$/);
  t.match(device, {
    uuid,
    name: 'bench-1',
    deviceType: 'generic-amd64',
    arch: 'amd64',
    osVersion: '2.101.0',
    online: false,
  });
  t.notOk('lastSeen' in device, 'registered, never heard from: offline');
  const mine = { Authorization: `Bearer ${deviceApiKey}`, 'Content-Type': 'application/json' };

  const beat = await send('PATCH', `/v1/devices/${uuid}/state`, mine, {
    supervisorVersion: '14.1.0',
    status: 'Idle',
  });
  const spaced = await send('PATCH', `/v1/devices/${uuid}/state`, mine, { status: 'Update failed' });
  t.equal(spaced.status, 200, 'a status may be words');
  t.equal(beat.status, 200);
  t.match(await beat.json(), {
    osVersion: '2.101.0',
    supervisorVersion: '14.1.0',
    status: 'Idle',
    lastSeen: /^20/,
    online: true,
  });
  t.equal((await send('PATCH', `/v1/devices/${uuid}/progress`, mine, { percent: 30, message: 'm' })).status, 200);
  const read = (await (await send('GET', `/v1/devices/${uuid}`, mine)).json()) as Record<string, unknown>;
  t.match(read, { uuid, percent: 30, message: 'm', device: { name: 'bench-1', status: 'Update failed' } });

  const log = await send('POST', `/v1/devices/${uuid}/logs`, mine, { name: 'hup.log', text: 'step 1\nstep 2\n' });
  t.equal(log.status, 201, 'the device sends an update log');
  t.match(await log.json(), { name: 'hup.log', bytes: 14 });
  await send('POST', `/v1/devices/${uuid}/logs`, mine, { name: 'hup.log', text: 'step 3\n' });
  t.equal((await send('POST', `/v1/devices/${uuid}/logs`, mine, { name: 'hup.log' })).status, 400, 'text is required');
  const logs = (await (await send('GET', `/v1/devices/${uuid}/logs`, op)).json()) as {
    logs: { name: string; text: string; at: string }[];
  };
  t.same(
    logs.logs.map((l) => l.text),
    ['step 1\nstep 2\n', 'step 3\n'],
    'in order of arrival',
  );
  const loose = { Authorization: `Bearer ${backend.registerDevice('other')}` };
  t.equal((await send('GET', `/v1/devices/${uuid}/logs`, loose)).status, 403, "not another device's logs");

  const list = (await (await send('GET', '/v1/devices', op)).json()) as { devices: { uuid: string }[] };
  t.same(
    list.devices.map((d) => d.uuid),
    [uuid],
  );
});

t.test('online: a heartbeat at most ONLINE_WINDOW_MS old', async (t) => {
  const info = {
    uuid: 'u',
    name: 'n',
    deviceType: 'generic-amd64',
    arch: 'amd64',
    registeredAt: '2026-01-01T00:00:00Z',
  };
  const now = Date.parse('2026-01-01T00:10:00Z');
  const ago = (ms: number) => new Date(now - ms).toISOString();
  t.equal(withOnline(info, now).online, false, 'never heard from');
  t.equal(withOnline({ ...info, lastSeen: ago(0) }, now).online, true);
  t.equal(withOnline({ ...info, lastSeen: ago(ONLINE_WINDOW_MS) }, now).online, true);
  t.equal(withOnline({ ...info, lastSeen: ago(ONLINE_WINDOW_MS + 1) }, now).online, false);
  t.equal(withOnline({ ...info, lastSeen: 'garbage' }, now).online, false);
});

t.test(
  'refusals: only the operator registers and lists, fields are checked, a heartbeat needs a registration',
  async (t) => {
    const backend = await startBackend();
    t.teardown(() => backend.stop());
    const api = backend.urls.api;
    const op = { ...backend.operatorHeaders(), 'Content-Type': 'application/json' };
    const key = { Authorization: `Bearer ${backend.registerDevice('loose')}` };
    const post = (headers: Record<string, string>, body: unknown) =>
      fetch(`${api}/v1/devices`, { method: 'POST', headers, body: JSON.stringify(body) });
    const good = { name: 'b', deviceType: 'generic-amd64', arch: 'amd64' };

    t.equal((await post(key, good)).status, 403, 'a device key cannot register devices');
    t.equal((await fetch(`${api}/v1/devices`, { headers: key })).status, 403, 'nor list them');
    t.equal((await post({}, good)).status, 401);
    for (const [what, body] of [
      ['no name', { deviceType: 'generic-amd64', arch: 'amd64' }],
      ['a name with a slash', { ...good, name: 'a/b' }],
      ['a number for a version', { ...good, osVersion: 2 }],
      ['a bad uuid', { ...good, uuid: '../x' }],
      ['not an object', ['b']],
      ['a status with a newline', { ...good, status: 'a\nb' }],
      ['a body shaped like a reply', { status: 200, headers: {}, body: 'x' }],
    ] as const) {
      const r = await post(op, body);
      t.equal(r.status, 400, what);
      t.match(await r.json(), { error: /.+/ });
    }
    t.same(((await (await fetch(`${api}/v1/devices`, { headers: op })).json()) as { devices: unknown[] }).devices, []);

    const beat = await fetch(`${api}/v1/devices/loose/state`, { method: 'PATCH', headers: key, body: '{}' });
    t.equal(beat.status, 404, 'a key without a registration: no record to report on');
    const other = await fetch(`${api}/v1/devices/someone/state`, { method: 'PATCH', headers: key, body: '{}' });
    t.equal(other.status, 403, "another device's record");
    t.equal((await fetch(`${api}/v1/devices/nobody`, { headers: op })).status, 404);
  },
);
