import t from 'tap';
import { registryClientOptions } from '../updater/common/registry.ts';
import type { DeviceConfig } from '../updater/common/config.ts';

const base: DeviceConfig = { uuid: 'u', deviceType: 'generic-amd64', deviceApiKey: 'device-key-1' };

t.test("the lab backend's registries get the device's API key", async (t) => {
  t.same(registryClientOptions(base), { credentials: { token: 'device-key-1' } });
});

t.test("a lab registry gets config.json's registryCredentials, never the device key", async (t) => {
  t.same(registryClientOptions({ ...base, registryCredentials: { username: 'lab', password: 'pw' } }), {
    credentials: { username: 'lab', password: 'pw' },
  });
  t.same(registryClientOptions({ ...base, registryCredentials: {} }), {}, 'empty: anonymous');
  t.same(registryClientOptions({ ...base, registryCredentials: { token: 'tok' } }), { credentials: { token: 'tok' } });
});

t.test("balenaRootCA (base64 PEM) is the registry's CA; labHost routes loopback URLs", async (t) => {
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const opts = registryClientOptions({
    ...base,
    registryCredentials: {},
    balenaRootCA: Buffer.from(pem).toString('base64'),
    labHost: { address: '10.0.2.100', ports: [5000] },
  } as DeviceConfig);
  t.equal(opts.caCertificate, pem);
  t.same(opts.labHost, { address: '10.0.2.100', ports: [5000] });
});
