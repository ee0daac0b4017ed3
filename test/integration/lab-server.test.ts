import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { huplab, newLab, serve } from './serve-fixture.ts';

// `huplab serve` as a real process on a lab of its own: endpoints in server.json, devices,
// keys and progress through the real HTTP API with real credentials, kept across a stop and a
// start; one server per lab; stopped by --stop, SIGTERM or a kill without losing anything.

const json = { 'Content-Type': 'application/json' };
const bearer = (k: string) => ({ Authorization: `Bearer ${k}` });

t.test('serve, register, report, stop, serve again: the device, its key and its history are there', async (t) => {
  const lab = newLab();
  const first = await serve(t, lab);
  const r = first.record;
  for (const url of Object.values(r.urls)) t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'loopback only');
  t.match(r.guestUrls.api, /^http:\/\/10\.0\.2\.100:\d+$/);
  t.same(
    r.labHost.ports,
    Object.values(r.urls).map((u) => Number(new URL(u).port)),
  );
  const token = readFileSync(join(lab, 'operator-token'), 'utf8').trim();
  const api = r.urls.api;

  t.equal((await fetch(`${api}/v1/devices`)).status, 401, 'nothing without a credential');
  const reg = await fetch(`${api}/v1/devices`, {
    method: 'POST',
    headers: { ...json, ...bearer(token) },
    body: JSON.stringify({ name: 'bench-1', deviceType: 'generic-amd64', arch: 'amd64', osVersion: '2.101.0' }),
  });
  t.equal(reg.status, 201, 'the operator token registers a device');
  const { uuid, deviceApiKey } = (await reg.json()) as { uuid: string; deviceApiKey: string };
  const progress = (percent: number, message: string, status?: string) =>
    fetch(`${api}/v1/devices/${uuid}/progress`, {
      method: 'PATCH',
      headers: { ...json, ...bearer(deviceApiKey) },
      body: JSON.stringify({ percent, message, ...(status ? { status } : {}) }),
    });
  t.equal((await progress(25, 'Preparing OS update', 'updating')).status, 200);
  t.equal((await progress(50, 'Running OS update')).status, 200);
  const beat = await fetch(`${api}/v1/devices/${uuid}/state`, {
    method: 'PATCH',
    headers: { ...json, ...bearer(deviceApiKey) },
    body: JSON.stringify({ supervisorVersion: '14.0.0', status: 'Idle' }),
  });
  t.equal(beat.status, 200, 'a heartbeat with the device key');
  const sent = await fetch(`${api}/v1/devices/${uuid}/logs`, {
    method: 'POST',
    headers: { ...json, ...bearer(deviceApiKey) },
    body: JSON.stringify({ name: 'hup.log', text: '[hup] step checks start\n' }),
  });
  t.equal(sent.status, 201, 'an update log with the device key');
  // `online` follows the clock (the last heartbeat's age), not the stored record: left out of the comparison.
  // What is stored: online and lastSeen move with every request the device makes (this one too).
  const stored = (doc: { device?: { online?: boolean; lastSeen?: string } }) => {
    delete doc.device?.online;
    delete doc.device?.lastSeen;
    return doc;
  };
  const before = stored(await (await fetch(`${api}/v1/devices/${uuid}`, { headers: bearer(token) })).json());

  const status = await huplab(lab, ['serve', '--status', '--json']);
  t.equal(status.status, 0);
  t.match(JSON.parse(status.stdout), { ok: true, running: true, server: { pid: r.pid, urls: r.urls } });

  const stop = await huplab(lab, ['serve', '--stop']);
  t.equal(stop.status, 0, `serve --stop: ${stop.stderr}`);
  t.match(stop.stdout, new RegExp(`lab server \\(pid ${r.pid}\\) stopped`));
  t.same(await first.exited, { code: 0, signal: null }, 'the server exited 0');
  t.match(first.stderr(), /lab server stopped \(SIGTERM\)/);
  for (const f of ['server.json', 'server.lock', 'lab.db.owner']) t.notOk(existsSync(join(lab, f)), `${f} is gone`);
  t.ok(existsSync(join(lab, 'lab.db')), 'the database stays');
  t.equal((await fetch(api).catch(() => undefined))?.status, undefined, 'nothing listens at the old API');
  const after = await huplab(lab, ['serve', '--status', '--json']);
  t.match(JSON.parse(after.stdout), { ok: true, running: false });
  t.notMatch(JSON.parse(after.stdout), { stale: {} }, 'a clean stop leaves no record behind');

  const second = await serve(t, lab);
  const api2 = second.record.urls.api;
  t.equal(api2, api, 'the same port: the devices name it in their config.json');
  const again = await fetch(`${api2}/v1/devices/${uuid}`, { headers: bearer(deviceApiKey) });
  t.equal(again.status, 200, "the device's key still opens its record");
  const state = stored(await again.json()) as {
    history: { percent: number; message: string; status?: string }[];
    device: { name: string };
  };
  t.same(state, before, 'the same record, history and all');
  t.same(
    state.history.map((h) => [h.percent, h.message, h.status]),
    [
      [25, 'Preparing OS update', 'updating'],
      [50, 'Running OS update', undefined],
    ],
  );
  t.match(state.device, { name: 'bench-1', osVersion: '2.101.0', supervisorVersion: '14.0.0', status: 'Idle' });
  const logs = (await (await fetch(`${api2}/v1/devices/${uuid}/logs`, { headers: bearer(token) })).json()) as {
    logs: { name: string; text: string }[];
  };
  t.match(logs.logs, [{ name: 'hup.log', text: '[hup] step checks start\n' }], 'the update log is kept');
  const wrong = await fetch(`${api2}/v1/devices/${uuid}`, {
    headers: bearer(`${deviceApiKey.slice(0, -1)}${deviceApiKey.endsWith('0') ? '1' : '0'}`),
  });
  t.equal(wrong.status, 401, 'and a wrong key still does not');
  const list = (await (await fetch(`${api2}/v1/devices`, { headers: bearer(token) })).json()) as {
    devices: { uuid: string }[];
  };
  t.same(
    list.devices.map((d) => d.uuid),
    [uuid],
  );
  second.child.kill('SIGTERM');
  await second.exited;
});

t.test('a second server in the same lab is refused in one line; the first keeps running', async (t) => {
  const lab = newLab();
  const first = await serve(t, lab);
  const refused = await huplab(lab, ['serve']);
  t.equal(refused.status, 1);
  const errors = refused.stderr.split('\n').filter((l) => l.startsWith('huplab: error:'));
  t.equal(errors.length, 1, refused.stderr);
  t.match(
    errors[0],
    new RegExp(
      `^huplab: error: a lab server already runs for .* \\(pid ${first.record.pid}, API ${first.record.urls.api}\\) \\(.*huplab serve --stop.*\\)$`,
    ),
  );
  const asJson = await huplab(lab, ['serve', '--json']);
  t.equal(asJson.status, 1);
  t.match(JSON.parse(asJson.stdout), { ok: false, error: { code: 'server-running' } });
  t.same(
    JSON.parse(readFileSync(join(lab, 'server.json'), 'utf8')),
    first.record,
    "the refused one left the first one's record alone",
  );
  const token = readFileSync(join(lab, 'operator-token'), 'utf8').trim();
  t.equal((await fetch(`${first.record.urls.api}/v1/devices`, { headers: bearer(token) })).status, 200, 'still serves');

  const both = await huplab(lab, ['serve', '--stop', '--status']);
  t.equal(both.status, 1, '--stop with --status is refused');
  first.child.kill('SIGTERM');
  await first.exited;
  const none = await huplab(lab, ['serve', '--stop']);
  t.equal(none.status, 1, '--stop with no server running');
  t.match(none.stderr, /^huplab: error: no lab server runs for .* \(start one with `huplab serve`\)\n$/);
});

t.test('SIGTERM cleans up; a killed server leaves a record that claims nothing', async (t) => {
  const lab = newLab();
  const first = await serve(t, lab);
  first.child.kill('SIGTERM');
  t.same(await first.exited, { code: 0, signal: null }, 'SIGTERM: a clean stop, exit 0');
  t.notOk(existsSync(join(lab, 'server.json')), 'no server.json after SIGTERM');
  t.notOk(existsSync(join(lab, 'server.lock')), 'no lock after SIGTERM');

  const second = await serve(t, lab);
  const token = readFileSync(join(lab, 'operator-token'), 'utf8').trim();
  const reg = await fetch(`${second.record.urls.api}/v1/devices`, {
    method: 'POST',
    headers: { ...json, ...bearer(token) },
    body: JSON.stringify({ name: 'kept', deviceType: 'generic-amd64', arch: 'amd64' }),
  });
  t.equal(reg.status, 201);
  const { uuid, deviceApiKey } = (await reg.json()) as { uuid: string; deviceApiKey: string };
  // No cleanup at all: SIGKILL the process that serves (server.json's pid).
  process.kill(second.record.pid, 'SIGKILL');
  await second.exited;
  const stale = await huplab(lab, ['serve', '--status', '--json']);
  t.match(JSON.parse(stale.stdout), { ok: true, running: false, stale: { pid: second.record.pid } });
  t.match((await huplab(lab, ['serve', '--status'])).stdout, /no lab server runs .*is gone/);

  const third = await serve(t, lab);
  t.not(third.record.pid, second.record.pid);
  const read = await fetch(`${third.record.urls.api}/v1/devices/${uuid}`, { headers: bearer(deviceApiKey) });
  t.equal(read.status, 200, 'taken over after a kill: the device and its key are there');
  third.child.kill('SIGTERM');
  await third.exited;
  t.notOk(existsSync(join(lab, 'server.json')));
});
