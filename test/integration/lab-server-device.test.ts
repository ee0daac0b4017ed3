import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { huplab, newLab, serve } from './serve-fixture.ts';

// One emulated generic-amd64 started with `huplab device start` while `huplab serve` runs: it is
// registered there, and from inside its restricted network it reaches the server with the key
// its config.json got, and with nothing else.

const NAME = 'srv1';

t.test(
  'device start while the server runs: registered, and the device reaches the server',
  { timeout: 600_000 },
  async (t) => {
    const lab = newLab();
    const server = await serve(t, lab);
    t.teardown(async () => {
      await huplab(lab, ['device', 'stop', '--name', NAME, '--force']);
    });
    const token = readFileSync(join(lab, 'operator-token'), 'utf8').trim();
    const op = { Authorization: `Bearer ${token}` };

    const started = await huplab(lab, [
      'device',
      'start',
      '--device',
      'generic-amd64',
      '--release',
      '2.101.0',
      '--name',
      NAME,
      '--timeout',
      '300',
      '--json',
    ]);
    t.equal(started.status, 0, `device start: ${started.stderr}`);
    const out = JSON.parse(started.stdout) as { uuid: string; server: string | null };
    t.equal(out.server, server.record.urls.api, 'it says which server it was registered with');

    const list = (await (await fetch(`${server.record.urls.api}/v1/devices`, { headers: op })).json()) as {
      devices: { uuid: string; name: string; deviceType: string; arch: string; osVersion?: string }[];
    };
    t.match(list.devices, [
      { uuid: out.uuid, name: NAME, deviceType: 'generic-amd64', arch: 'amd64', osVersion: '2.101.0' },
    ]);

    const ssh = (command: string) => huplab(lab, ['device', 'ssh', '--name', NAME, '--', command]);
    const cfg = await ssh('cat /mnt/boot/config.json');
    t.equal(cfg.status, 0, cfg.stderr);
    const config = JSON.parse(cfg.stdout) as {
      uuid: string;
      apiEndpoint: string;
      deviceApiKey: string;
      labHost: { ports: number[] };
    };
    t.equal(config.uuid, out.uuid);
    t.equal(config.apiEndpoint, server.record.guestUrls.api, "the server's API as the device reaches it");
    t.same(config.labHost.ports, server.record.labHost.ports, 'its network forwards the server ports');

    // From the device: a heartbeat with its own key, through its restricted network.
    const url = `${config.apiEndpoint}/v1/devices/${config.uuid}/state`;
    const beat = await ssh(
      `timeout 20 wget -q -O - --header "Content-Type: application/json" --header "Authorization: Bearer ${config.deviceApiKey}" --post-data '{"status":"Idle"}' ${url}`,
    );
    t.equal(beat.status, 0, `the heartbeat went through: ${beat.stderr}`);
    t.match(JSON.parse(beat.stdout), { uuid: config.uuid, status: 'Idle', online: true });
    const record = (await (
      await fetch(`${server.record.urls.api}/v1/devices/${config.uuid}`, { headers: op })
    ).json()) as { device: { status?: string; lastSeen?: string; online: boolean } };
    t.match(record.device, { status: 'Idle', lastSeen: String, online: true }, 'the server has it');

    const stop = await huplab(lab, ['device', 'stop', '--name', NAME, '--force']);
    t.equal(stop.status, 0, stop.stderr);
    const stopServer = await huplab(lab, ['serve', '--stop']);
    t.equal(stopServer.status, 0, stopServer.stderr);
  },
);
