import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { openLab } from '../harness/lab.ts';
import { createServer } from 'node:net';
import {
  type LabServer,
  recipePolicy,
  serverStatus,
  type StartLabServerOptions,
  startLabServer,
} from '../harness/server/lab-server.ts';
import { AGENT_BEAT_MS, TARGET_RULES } from '../lib/contract/fleet.ts';

// The fleet on a real lab server (its database in a temporary lab folder, its publisher building
// from the recipes): what is refused before any build, a supervisor release really built and
// published when a target names it, targets and history across a restart, and the `huplab
// fleet` commands end to end against it.

type Body = Record<string, unknown>;

// Lab servers that bundle the updaters, supervisor builds, a dozen commands each a Node process
// that compiles the CLI: minutes on a busy machine.
t.setTimeout(600_000);

function client(server: LabServer) {
  return async (method: string, path: string, body?: unknown, key?: string) => {
    const res = await fetch(`${server.record.urls.api}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${key ?? server.backend.auth.operatorToken}`,
        'Content-Type': 'application/json',
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json().catch(() => ({}))) as Body };
  };
}

/** A device registered and heard from; its OS has no recipe, so a start publishes nothing for it. */
async function device(server: LabServer, name: string, o: Body = {}) {
  const send = client(server);
  const r = await send('POST', '/v1/devices', {
    name,
    deviceType: 'generic-amd64',
    arch: 'amd64',
    osVersion: '2.150.0',
    supervisorVersion: '16.8.0',
    ...o,
  });
  const d = { uuid: r.body.uuid as string, key: r.body.deviceApiKey as string };
  await send('PATCH', `/v1/devices/${d.uuid}/state`, { status: 'Idle' }, d.key);
  return d;
}

async function serve(t: Test, dir: string, opts: StartLabServerOptions = {}): Promise<LabServer> {
  const server = await startLabServer(openLab(dir), opts);
  t.teardown(() => server.stop());
  return server;
}

t.test(
  'a lab server refuses an OS version without a recipe before building, and publishes a supervisor it builds',
  async (t) => {
    const dir = t.testdir({});
    // The recipes' support policy, on a fixed day so that the choices below do not move with time.
    const server = await serve(t, dir, { policy: recipePolicy(() => new Date('2026-12-04T00:00:00Z')) });
    const send = client(server);
    const d = await device(server, 'bench-1');

    const started = Date.now();
    const unknown = await send('PUT', `/v1/devices/${d.uuid}/target`, { osVersion: '9.9.9' });
    t.match(unknown, {
      status: 409,
      body: {
        rule: TARGET_RULES.notPublished,
        error:
          /^OS 9\.9\.9 has no recipe, so it cannot be published for generic-amd64 \(recipes for generic-amd64: 1\.24\.0, [^)]*2\.11\.0, [^)]*2\.101\.0, 2\.102\.0, 2\.102\.1[^)]*\)$/,
      },
    });
    const other = await send('PUT', `/v1/devices/${d.uuid}/target`, { osVersion: '2.113.0' });
    t.match(other.body, {
      rule: TARGET_RULES.notPublished,
      error: /OS 2\.113\.0 is not built for generic-amd64 \(its device types: jetson-xavier/,
    });
    t.ok(Date.now() - started < 5_000, 'refused at once');
    t.same((await send('GET', '/v1/releases')).body, { releases: [] }, 'nothing was built or published');

    // A Jetson on JetPack 4: the profile of each recipe is found by its layout, so 5.x is the advanced path.
    const jetson = await device(server, 'xavier-1', {
      deviceType: 'jetson-xavier',
      arch: 'arm64',
      osVersion: '2.114.0',
    });
    const choices = await send('GET', `/v1/devices/${jetson.uuid}/choices`, undefined, jetson.key);
    t.match(choices.body.os, [
      { version: '2.113.0', ok: false, refusal: { rule: TARGET_RULES.noDowngrade } },
      { version: '2.114.0', ok: false, refusal: { rule: TARGET_RULES.methodRefused } },
      // The support policy on 2026-12-04: only the latest rolling release of jetson-xavier (5.2.1)
      // is maintained, so the older ones are no choice (issue 18).
      { version: '2.114.1', ok: false, refusal: { rule: TARGET_RULES.notMaintained } },
      { version: '5.1.0', ok: false, refusal: { rule: TARGET_RULES.notMaintained } },
      { version: '5.2.0', ok: false, refusal: { rule: TARGET_RULES.notMaintained } },
      { version: '5.2.1', ok: true, method: 'advanced' },
    ]);
    t.match(choices.body.supervisor, [
      { version: '16.8.0', ok: true },
      { version: '16.9.0', ok: true },
      { version: '17.0.0', ok: true },
    ]);
    t.same((await send('GET', '/v1/releases')).body, { releases: [] }, 'choices build nothing');
    t.match((await send('PUT', `/v1/devices/${d.uuid}/target`, { supervisorVersion: '9.9.9' })).body, {
      rule: TARGET_RULES.notPublished,
      error: /supervisor 9\.9\.9 has no recipe for amd64 \(recipes for amd64: 16\.8\.0, 16\.9\.0, 17\.0\.0\)/,
    });

    const set = await send('PUT', `/v1/devices/${d.uuid}/target`, { supervisorVersion: '16.9.0' });
    t.match(set, { status: 200, body: { ok: true, target: { supervisorVersion: '16.9.0' } } });
    t.match((await send('GET', '/v1/supervisor-releases?arch=amd64')).body, {
      supervisorReleases: [{ version: '16.9.0', arch: 'amd64', image: { repository: 'huplab/supervisor-amd64' } }],
    });
    const manifest = await fetch(`${server.record.urls.primaryRegistry}/v2/huplab/supervisor-amd64/manifests/16.9.0`, {
      headers: { Authorization: `Bearer ${d.key}`, Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    t.equal(manifest.status, 200, 'the device can pull it from the registry');
    const updater = await fetch(`${server.record.urls.api}/v1/updater`, {
      headers: { Authorization: `Bearer ${d.key}` },
    });
    t.equal(updater.status, 200, 'the updater bundle is served');
    await updater.arrayBuffer();

    // A test corrupts the supervisor's layer at the primary registry through the lab's faults.
    const { layers } = (await manifest.json()) as { layers: Array<{ digest: string }> };
    const layer = layers[0]!.digest;
    const blob = () =>
      fetch(`${server.record.urls.primaryRegistry}/v2/huplab/supervisor-amd64/blobs/${layer}`, {
        headers: { Authorization: `Bearer ${d.key}` },
      }).then(
        async (r) =>
          `sha256:${createHash('sha256')
            .update(Buffer.from(await r.arrayBuffer()))
            .digest('hex')}`,
      );
    t.equal(await blob(), layer, 'served intact');
    const armed = await send('POST', '/v1/lab/faults', {
      group: 'primary',
      kind: 'corrupt',
      offset: 10,
      path: 'blobs',
    });
    t.equal(armed.status, 201);
    t.not(await blob(), layer, 'served corrupted while the fault is armed');
    t.same((await send('DELETE', '/v1/lab/faults/primary')).body, { faults: [] });
    t.equal(await blob(), layer, 'intact again once cleared');
  },
);

t.test('targets, progress and the agent’s attempts survive a restart; what they need is published again', async (t) => {
  const dir = t.testdir({});
  const first = await startLabServer(openLab(dir));
  let stopped = false;
  t.teardown(() => (stopped ? undefined : first.stop()));
  const d = await device(first, 'bench-2');
  const send1 = client(first);
  const set = await send1('PUT', `/v1/devices/${d.uuid}/target`, { supervisorVersion: '17.0.0', confirmMajor: true });
  t.equal(set.status, 200);
  await send1('PATCH', `/v1/devices/${d.uuid}/progress`, { percent: 50, message: 'Downloading supervisor' }, d.key);
  const attempt = {
    kind: 'supervisor',
    version: '17.0.0',
    targetSetAt: (set.body.target as Body).setAt,
    outcome: 'started',
    at: new Date().toISOString(),
  };
  await send1(
    'PATCH',
    `/v1/devices/${d.uuid}/state`,
    { status: 'Updating supervisor', lastUpdate: { supervisor: attempt } },
    d.key,
  );
  const before = (await send1('GET', '/v1/fleet')).body;
  await first.stop();
  stopped = true;

  const second = await serve(t, dir);
  await second.republished;
  const send2 = client(second);
  const after = (await send2('GET', '/v1/fleet')).body;
  t.same(after, before, 'the same rows: target, progress, attempts');
  t.match(after.devices, [
    { targetProgress: 'in-progress', target: { supervisorVersion: '17.0.0', confirmMajor: true } },
  ]);
  t.match((await send2('GET', `/v1/devices/${d.uuid}`)).body, { history: [{ message: 'Downloading supervisor' }] });
  t.match((await send2('GET', '/v1/supervisor-releases?arch=amd64')).body, {
    supervisorReleases: [{ version: '17.0.0' }],
  });
  const mine = await send2('GET', `/v1/devices/${d.uuid}/target`, undefined, d.key);
  t.match(mine, { status: 200, body: { supervisorVersion: '17.0.0' } }, 'the device key still opens its target');
  t.same(second.record.urls, first.record.urls, "the same ports: its devices' config.json names them");
  t.same(second.record.labHost, first.record.labHost);
});

t.test('a remembered port another process took is refused in one line, nothing started', async (t) => {
  const dir = t.testdir({});
  const first = await startLabServer(openLab(dir));
  const api = Number(new URL(first.record.urls.api).port);
  await first.stop();
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(api, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => squatter.close(() => r())));
  await t.rejects(startLabServer(openLab(dir)), {
    message: new RegExp(`port ${api} of the lab server's api service is taken by another process`),
  });
  t.notOk(serverStatus(dir).running, 'no server left behind, lock released');
});

/** `huplab fleet ...` in a child process (async: this process serves its requests). */
function huplab(dir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, '..', 'harness', 'cli', 'main.ts'), 'fleet', ...args],
      {
        env: { ...process.env, HUPLAB_HOME: dir, HUPLAB_QUIET: '1' },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

t.test('huplab fleet os: the support policy refuses an unmaintained target before building', async (t) => {
  const dir = t.testdir({});
  const server = await serve(t, dir, { policy: recipePolicy(() => new Date('2026-12-04T00:00:00Z')) });
  const send = client(server);
  await device(server, 'amd-1', { osVersion: '2.101.0' });
  // The support policy refuses a superseded rolling release, before anything is built, and says
  // how to set it anyway.
  const old = await huplab(dir, 'os', '--version', '2.102.0', 'amd-1');
  t.equal(old.code, 1);
  t.match(
    old.stdout,
    /^amd-1: refused \(not-maintained\): not-maintained: 2\.102\.0 is a rolling release, not maintained since 2026-11-09, when 2\.102\.1 was published/,
  );
  t.match(
    old.stderr,
    /^huplab: error: 1 of 1 device refused OS 2\.102\.0: amd-1 \(not-maintained\) \(.*--allow-unsupported\)\n$/,
  );
  t.same((await send('GET', '/v1/releases')).body, { releases: [] }, 'nothing was built or published');
});

t.test('huplab fleet: list, set (some refused), wait', async (t) => {
  const dir = t.testdir({});
  const none = await huplab(dir, 'list');
  t.equal(none.code, 1);
  t.equal(none.stderr, `huplab: error: no lab server runs for ${dir} (start one with \`huplab serve\`)\n`);

  const server = await serve(t, dir);
  const send = client(server);
  const a = await device(server, 'amd-1');
  const arm = await device(server, 'arm-1', { deviceType: 'raspberrypi3-64', arch: 'arm64' });
  // Their agents beat as the real one does, so they stay online however long the commands take.
  const beating = setInterval(() => {
    for (const d of [a, arm]) void send('PATCH', `/v1/devices/${d.uuid}/state`, {}, d.key);
  }, AGENT_BEAT_MS);
  t.teardown(() => clearInterval(beating));
  const off = await send('POST', '/v1/devices', {
    name: 'off-1',
    deviceType: 'generic-amd64',
    arch: 'amd64',
    osVersion: '2.150.0',
    supervisorVersion: '16.8.0',
  });

  const bad = await huplab(dir, 'os', '--version', '../2', 'amd-1');
  t.match(bad, { code: 1, stderr: /^huplab: error: --version "\.\.\/2" is not a version/ });
  const badJson = await huplab(dir, 'os', '--version', '2.102.0', '--json', 'a b');
  t.match(JSON.parse(badJson.stdout), {
    ok: false,
    error: { code: 'option-invalid', message: /"a b" is not a device name/ },
  });

  const os = await huplab(dir, 'os', '--version', '9.9.9', 'amd-1', 'off-1', 'ghost');
  t.equal(os.code, 1);
  t.match(os.stdout, /amd-1: refused \(not-published\): OS 9\.9\.9 has no recipe/);
  t.match(os.stdout, /off-1: refused \(offline\): OS updates go to online devices only; off-1 last seen never/);
  t.match(os.stdout, /ghost: refused \(device-unknown\)/);
  t.match(os.stderr, /huplab: error: 3 of 3 devices refused OS 9\.9\.9/);

  const mixed = await huplab(dir, 'supervisor', '--version', '16.9.0', '--json', 'amd-1', 'arm-1');
  t.equal(mixed.code, 1);
  t.match(JSON.parse(mixed.stdout), {
    ok: false,
    results: [{ refusal: { rule: 'mixed-arch' } }, { refusal: { rule: 'mixed-arch' } }],
  });
  const major = await huplab(dir, 'supervisor', '--version', '17.0.0', 'amd-1');
  t.match(major, { code: 1, stdout: /amd-1: refused \(major-needs-confirmation\)/ });
  const sv = await huplab(dir, 'supervisor', '--version', '16.9.0', 'amd-1', 'off-1');
  t.match(sv, { code: 0, stdout: 'amd-1: set supervisor 16.9.0\noff-1: set supervisor 16.9.0\n' });

  const list = await huplab(dir, 'list', '--json');
  t.equal(list.code, 0);
  t.match(JSON.parse(list.stdout), {
    ok: true,
    devices: [
      { name: 'amd-1', online: true, target: { supervisorVersion: '16.9.0' }, targetProgress: 'pending' },
      { name: 'arm-1', arch: 'arm64', targetProgress: 'none' },
      { name: 'off-1', online: false, targetProgress: 'pending' },
    ],
  });
  t.match(
    (await huplab(dir, 'list')).stdout,
    /amd-1 .* generic-amd64 .* online .* target supervisor 16\.9\.0 \(pending\)/,
  );

  const timedOut = await huplab(dir, 'wait', '--timeout', '1', 'amd-1');
  t.match(timedOut, { code: 1, stderr: /amd-1 not there after 1 s \(pending\)/ });

  // The device carries it out while `wait` polls.
  const waiting = huplab(dir, 'wait', '--timeout', '60', '--json', 'amd-1');
  await new Promise((r) => setTimeout(r, 1500));
  await send('PATCH', `/v1/devices/${a.uuid}/state`, { supervisorVersion: '16.9.0', status: 'Idle' }, a.key);
  const reached = await waiting;
  t.equal(reached.code, 0, reached.stderr);
  t.match(JSON.parse(reached.stdout), { ok: true, devices: [{ name: 'amd-1', targetProgress: 'reached' }] });

  const offUuid = off.body.uuid as string;
  const target = (await send('GET', `/v1/devices/${offUuid}/target`)).body;
  await send(
    'PATCH',
    `/v1/devices/${offUuid}/state`,
    {
      status: 'Supervisor update failed',
      lastUpdate: {
        supervisor: {
          kind: 'supervisor',
          version: '16.9.0',
          targetSetAt: target.setAt,
          outcome: 'failed',
          reason: 'image digest mismatch',
          at: new Date().toISOString(),
        },
      },
    },
    off.body.deviceApiKey as string,
  );
  const failedWait = await huplab(dir, 'wait', 'off-1', 'amd-1');
  t.equal(failedWait.code, 1);
  t.match(failedWait.stdout, /off-1: failed: supervisor 16\.9\.0 failed: image digest mismatch\namd-1: reached/);
  t.match(await huplab(dir, 'wait', 'nobody'), { code: 1, stderr: /no device nobody in the lab/ });
});
