import t from 'tap';
import { join } from 'node:path';
import { LAB_HOST_ADDRESS } from '../lib/contract/lab-host.ts';
import { openLab } from '../harness/lab.ts';
import { startLabServer } from '../harness/server/lab-server.ts';
import { provisionWithServer } from '../harness/server/provision.ts';

// A device provisioned against the lab server: registered in its database, and a config.json
// that reaches the server (and nothing else) from the device's restricted network.

const device = {
  name: 'bench-1',
  deviceType: 'generic-amd64',
  arch: 'amd64',
  osVersion: '2.101.0',
  supervisorVersion: '14.0.0',
};

t.test('no server for the lab: nothing registered, nothing changed', async (t) => {
  const lab = openLab(join(t.testdir({}), 'lab'));
  t.equal(await provisionWithServer(lab, device), undefined);
});

t.test('while the server runs: registered, and config.json points at the server', async (t) => {
  const lab = openLab(join(t.testdir({}), 'lab'));
  const server = await startLabServer(lab);
  t.teardown(() => server.stop());
  const p = await provisionWithServer(lab, device);
  if (!p) throw new Error('not provisioned');
  const { config } = p;
  const ports = Object.values(server.backend.urls).map((u) => Number(new URL(u).port));
  t.same(config.labHost, { address: LAB_HOST_ADDRESS, ports }, 'its network forwards exactly the server ports');
  for (const [field, url] of [
    ['apiEndpoint', server.backend.urls.api],
    ['registryEndpoint', server.backend.urls.primaryRegistry],
    ['fallbackRegistryEndpoint', server.backend.urls.fallbackRegistry],
    ['deltaEndpoint', server.backend.urls.delta],
  ] as const) {
    t.equal(config[field], url.replace('127.0.0.1', LAB_HOST_ADDRESS), `${field}: the server as the device sees it`);
  }
  t.match(server.store.device(config.uuid), { ...device, status: 'provisioned' }, 'in the lab database');
  const own = await fetch(`${server.backend.urls.api}/v1/devices/${config.uuid}`, {
    headers: { Authorization: `Bearer ${config.deviceApiKey}` },
  });
  t.equal(own.status, 200, 'its key opens its record');
  t.equal(server.store.deviceKeys()[0]?.uuid, config.uuid, 'its key digest is kept');

  const again = await provisionWithServer(lab, device);
  t.not(again?.config.uuid, config.uuid, 'flashed again: a new uuid');
  t.same(
    server.store.devices().map((d) => d.uuid),
    [again?.config.uuid],
    'the name now names the new one',
  );
});
