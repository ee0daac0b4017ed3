import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBackend } from '../../harness/backend/index.ts';
import { blobPath, DEVICE, publishedBackend, REPO, type Releases, asOperator } from './backend-fixture.ts';

const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** The labels the builder put in the hostapp's config, read from the layout directly. */
function labels(h: Releases['r101']): Record<string, string> {
  const manifest = JSON.parse(readFileSync(blobPath(h, h.manifest.digest), 'utf8')) as { config: { digest: string } };
  return (
    JSON.parse(readFileSync(blobPath(h, manifest.config.digest), 'utf8')) as {
      config: { Labels: Record<string, string> };
    }
  ).config.Labels;
}

t.test('releases: list per device type, one by version, a clear 404 for unknown ones', async (t) => {
  const { backend, r101, r102 } = await publishedBackend(t);
  const fetch = asOperator(backend);
  const list = (await (await fetch(`${backend.urls.api}/v1/releases?deviceType=${DEVICE}`)).json()) as {
    releases: unknown[];
  };
  const expected = (version: string, h: Releases['r101']) => ({
    deviceType: DEVICE,
    version,
    supervisorVersion: labels(h)['io.balena.supervisor.version'],
    layout: labels(h)['io.huplab.layout'],
    // The hostapp's label, as the builder set it from the recipe: these are development builds.
    variant: labels(h)['io.huplab.variant'],
    arch: 'amd64',
    hostapp: { repository: REPO, tag: version, manifestDigest: h.manifest.digest },
  });
  t.same(list, { releases: [expected('2.101.0', r101), expected('2.102.0', r102)] });
  t.ok(labels(r101)['io.balena.supervisor.version'], 'the build labels its supervisor version');
  t.same(await (await fetch(`${backend.urls.api}/v1/releases?deviceType=raspberrypi3`)).json(), { releases: [] });

  const one = await fetch(`${backend.urls.api}/v1/releases/2.102.0?deviceType=${DEVICE}`);
  t.equal(one.status, 200);
  t.same(await one.json(), expected('2.102.0', r102));
  const unknown = await fetch(`${backend.urls.api}/v1/releases/9.9.9?deviceType=${DEVICE}`);
  t.equal(unknown.status, 404);
  t.same(await unknown.json(), { error: `release 9.9.9 is not published for ${DEVICE} (published: 2.101.0, 2.102.0)` });
  const noType = await fetch(`${backend.urls.api}/v1/releases/2.102.0`);
  t.equal(noType.status, 400);
  t.match(await noType.json(), { error: /deviceType/ });
});

t.test('progress: every report is kept with a server time stamp', async (t) => {
  const { backend } = await publishedBackend(t);
  const fetch = asOperator(backend);
  const uuid = 'a1b2c3d4e5f6';
  const patch = (body: unknown) =>
    fetch(`${backend.urls.api}/v1/devices/${uuid}/progress`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  t.equal((await fetch(`${backend.urls.api}/v1/devices/${uuid}`)).status, 404, 'unknown before any report');
  const before = Date.now();
  t.equal((await patch({ percent: 25, message: 'Preparing OS update', status: 'updating' })).status, 200);
  t.equal((await patch({ percent: 50, message: 'Running OS update' })).status, 200);
  t.equal((await patch({ percent: 100, message: 'Update successful, rebooting', status: 'rebooting' })).status, 200);
  const after = Date.now();
  const bad = await patch({ percent: 140, message: 'x' });
  t.equal(bad.status, 400);
  t.match(await bad.json(), { error: /percent/ });
  t.equal((await patch({ percent: 10 })).status, 400, 'message is required');

  const state = (await (await fetch(`${backend.urls.api}/v1/devices/${uuid}`)).json()) as {
    percent: number;
    message: string;
    status: string;
    history: Array<{ percent: number; message: string; status?: string; at: string }>;
  };
  t.match(state, { uuid, percent: 100, message: 'Update successful, rebooting', status: 'rebooting' });
  t.same(
    state.history.map((h) => [h.percent, h.message, h.status]),
    [
      [25, 'Preparing OS update', 'updating'],
      [50, 'Running OS update', undefined],
      [100, 'Update successful, rebooting', 'rebooting'],
    ],
    'whole history, in order, invalid reports left out',
  );
  const times = state.history.map((h) => Date.parse(h.at));
  t.ok(
    times.every((x, i) => x >= before && x <= after && (i === 0 || x >= times[i - 1]!)),
    `server times within the run and ordered: ${state.history.map((h) => h.at).join(', ')}`,
  );
  t.same(backend.api.device(uuid)?.history.length, 3);
});

t.test(
  'authentication: a forged report is refused 401 and changes nothing; a device owns only its record',
  async (t) => {
    const { backend } = await publishedBackend(t);
    const api = backend.urls.api;
    const op = backend.operatorHeaders();
    const mine = backend.registerDevice('dev-a');
    const theirs = backend.registerDevice('dev-b');
    const bearer = (k: string) => ({ Authorization: `Bearer ${k}` });
    const patch = (uuid: string, headers: Record<string, string>, message: string) =>
      fetch(`${api}/v1/devices/${uuid}/progress`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json', ...headers },
        body: JSON.stringify({ percent: 100, message }),
      });
    t.equal((await patch('dev-a', bearer(mine), 'genuine')).status, 200);
    const before = backend.api.device('dev-a');

    const none = await patch('dev-a', {}, 'forged by nobody');
    t.equal(none.status, 401, 'no credentials');
    t.match(none.headers.get('www-authenticate'), /^Bearer/);
    t.equal((await patch('dev-a', bearer('nope'), 'forged by nobody')).status, 401, 'a wrong key');
    t.equal((await patch('dev-a', bearer(`${mine}x`), 'forged by nobody')).status, 401, 'a key with a byte more');
    t.equal((await patch('dev-a', bearer(theirs), 'forged by dev-b')).status, 403, "another device's key");
    t.same(backend.api.device('dev-a'), before, 'the record is unchanged');
    t.equal(backend.api.device('dev-a')?.history.length, 1);

    t.equal((await fetch(`${api}/v1/devices/dev-a`)).status, 401, 'records are not readable anonymously');
    t.equal((await fetch(`${api}/v1/devices/dev-a`, { headers: bearer(theirs) })).status, 403);
    t.equal((await fetch(`${api}/v1/devices/dev-a`, { headers: bearer(mine) })).status, 200, 'a device reads its own');
    t.equal((await fetch(`${api}/v1/devices/dev-a`, { headers: op })).status, 200, 'the operator reads any');
    t.equal((await patch('dev-b', op, 'operator note')).status, 200, 'the operator may write any record');
    t.equal((await fetch(`${api}/v1/updater`)).status, 401, 'the updater is not served anonymously');
    t.equal((await fetch(`${api}/v1/releases?deviceType=${DEVICE}`)).status, 401);
    const basic = `Basic ${Buffer.from(`device:${mine}`).toString('base64')}`;
    t.equal(
      (await fetch(`${api}/v1/releases?deviceType=${DEVICE}`, { headers: { Authorization: basic } })).status,
      200,
      'Basic with the key as password',
    );

    const logged = JSON.stringify(backend.log('api'));
    t.notOk(logged.includes(mine), 'the request log holds no device key');
    t.notOk(logged.includes(backend.auth.operatorToken), 'nor the operator token');
    t.notOk(logged.toLowerCase().includes('authorization'), 'nor any Authorization header');
  },
);

t.test('the updater bundle and OS images are served with their sha256', async (t) => {
  const dir = t.testdir();
  const bundle = join(dir, 'updater.mjs');
  writeFileSync(bundle, 'console.log("updater v1");\n');
  const backend = await startBackend({ updaterBundlePath: bundle });
  const fetch = asOperator(backend);
  t.teardown(() => backend.stop());
  const first = await fetch(`${backend.urls.api}/v1/updater`);
  t.equal(first.status, 200);
  t.equal(first.headers.get('x-content-sha256'), hex(readFileSync(bundle)));
  t.equal(await first.text(), 'console.log("updater v1");\n');
  writeFileSync(bundle, 'console.log("updater version 2");\n');
  t.equal(
    (await fetch(`${backend.urls.api}/v1/updater`)).headers.get('x-content-sha256'),
    hex('console.log("updater version 2");\n'),
    'a rebuilt bundle gets its new hash',
  );

  const image = join(dir, 'disk.img');
  const content = Buffer.alloc(300_000, 7);
  content.write('huplab', 1000);
  writeFileSync(image, content);
  await backend.api.addOsImage({ deviceType: DEVICE, version: '2.102.0', file: image });
  const full = await fetch(`${backend.urls.api}/v1/os-images/${DEVICE}/2.102.0`);
  t.equal(full.headers.get('x-content-sha256'), hex(content));
  t.ok(Buffer.from(await full.arrayBuffer()).equals(content));
  const part = await fetch(`${backend.urls.api}/v1/os-images/${DEVICE}/2.102.0`, {
    headers: { Range: 'bytes=1000-1005' },
  });
  t.equal(part.status, 206);
  t.equal(await part.text(), 'huplab');
  const missing = await fetch(`${backend.urls.api}/v1/os-images/${DEVICE}/9.9.9`);
  t.equal(missing.status, 404);
  t.same(await missing.json(), { error: `no OS image 9.9.9 for ${DEVICE} on this backend` });

  const bare = await startBackend();
  t.teardown(() => bare.stop());
  t.equal((await asOperator(bare)(`${bare.urls.api}/v1/updater`)).status, 404, 'no bundle configured');
});

t.test(
  'guest URLs are the same ports at the lab host address, and those are the ports a device may reach',
  async (t) => {
    const backend = await startBackend();
    t.teardown(() => backend.stop());
    const ports = Object.values(backend.urls).map((u) => new URL(u).port);
    t.equal(new Set(ports).size, 4, 'four servers, four ports');
    t.same(
      Object.values(backend.guestUrls),
      ports.map((p) => `http://10.0.2.100:${p}`),
    );
    t.same(backend.ports.map(String), ports, 'the ports an emulated device is allowed: exactly the four services');
    t.ok(Object.values(backend.urls).every((u) => u.startsWith('http://127.0.0.1:')));
  },
);

t.test('listen on another address: served there and on loopback, at the same port', async (t) => {
  // 127.0.0.2 is another address of this host (all of 127/8 is loopback on Linux), not 127.0.0.1.
  const backend = await startBackend({ listen: '127.0.0.2' });
  t.teardown(() => backend.stop());
  const port = new URL(backend.urls.api).port;
  for (const host of ['127.0.0.2', '127.0.0.1']) {
    const r = await fetch(`http://${host}:${port}/v1/updater`);
    t.equal(r.status, 401, `${host} answers, and asks for credentials`);
  }
});
