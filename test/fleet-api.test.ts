import t, { type Test } from 'tap';
import { RequestLog } from '../harness/backend/request-log.ts';
import { MemoryDeviceRecords } from '../harness/backend/device-records.ts';
import type { FleetSource, TargetPolicy } from '../harness/backend/target-rules.ts';
import type { ReleaseFacts } from '../lib/release-policy.ts';
import { type Backend, type ReleaseRecord, startBackend } from '../harness/backend/index.ts';
import { TARGET_RULES } from '../lib/contract/fleet.ts';

// The fleet API of a backend (records in memory, targets judged by what it has published):
// each rule refuses a target (and a test here fails when the rule goes), batches, the heartbeat
// that carries a target, the fleet rows' targetProgress driven by real heartbeats, lab faults.

type Body = Record<string, unknown>;

const release = (deviceType: string, version: string, arch: string, layout = 'balena-ab-v1'): ReleaseRecord => ({
  deviceType,
  version,
  supervisorVersion: '16.8.0',
  layout,
  arch,
  hostapp: { repository: `huplab/${deviceType}`, tag: version, manifestDigest: `sha256:${'0'.repeat(64)}` },
});
const supervisor = (version: string, arch: string, minOsVersion = '2.12.0') => ({
  version,
  arch,
  minOsVersion,
  image: { repository: `huplab/supervisor-${arch}`, tag: version, manifestDigest: `sha256:${'1'.repeat(64)}` },
});

interface Lab {
  backend: Backend;
  send(method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; body: Body }>;
  /** Registers a device; `online` beats once with its key. */
  device(
    name: string,
    o: { arch?: string; deviceType?: string; os?: string; sv?: string; online?: boolean },
  ): Promise<{
    uuid: string;
    key: string;
  }>;
  beat(d: { uuid: string; key: string }, body: Body): Promise<{ status: number; body: Body }>;
}

async function lab(t: Test, policy?: TargetPolicy): Promise<Lab> {
  const backend = await startBackend(policy ? { policy } : {});
  t.teardown(() => backend.stop());
  for (const v of ['2.101.0', '2.102.0', '2.102.1']) backend.api.addRelease(release('generic-amd64', v, 'amd64'));
  backend.api.addRelease(release('generic-amd64', '2.103.0', 'amd64', 'other-layout'));
  backend.api.addRelease(release('raspberrypi3-64', '2.101.0', 'arm64'));
  backend.api.addRelease(release('raspberrypi3-64', '2.102.0', 'arm64'));
  for (const v of ['16.7.0', '16.8.0', '16.9.0', '17.0.0']) backend.api.addSupervisorRelease(supervisor(v, 'amd64'));
  backend.api.addSupervisorRelease(supervisor('16.10.0', 'amd64', '2.102.0'));
  backend.api.addSupervisorRelease(supervisor('16.9.0', 'arm64'));
  const send: Lab['send'] = async (method, path, body, key) => {
    const headers = key ? { Authorization: `Bearer ${key}` } : backend.operatorHeaders();
    const res = await fetch(`${backend.urls.api}${path}`, {
      method,
      headers: { ...headers, 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Body };
  };
  const beat: Lab['beat'] = (d, body) => send('PATCH', `/v1/devices/${d.uuid}/state`, body, d.key);
  return {
    backend,
    send,
    beat,
    async device(name, o) {
      const r = await send('POST', '/v1/devices', {
        name,
        deviceType: o.deviceType ?? 'generic-amd64',
        arch: o.arch ?? 'amd64',
        osVersion: o.os ?? '2.101.0',
        supervisorVersion: o.sv ?? '16.8.0',
      });
      const d = { uuid: r.body.uuid as string, key: r.body.deviceApiKey as string };
      if (o.online !== false) await beat(d, { status: 'Idle' });
      return d;
    },
  };
}

/** PUT a target: the status, the rule and the reason of a refusal. */
async function put(
  l: Lab,
  uuid: string,
  body: Body,
): Promise<{ status: number; rule?: string; error?: string; body: Body }> {
  const r = await l.send('PUT', `/v1/devices/${uuid}/target`, body);
  return { status: r.status, rule: r.body.rule as string, error: r.body.error as string, body: r.body };
}

t.test('OS targets: each rule refuses, in one line that names what it judged', async (t) => {
  const l = await lab(t);
  const a1 = await l.device('a1', {});
  const off = await l.device('off', { online: false });
  const newer = await l.device('newer', { os: '2.102.1' });

  const unknown = await put(l, 'nope', { osVersion: '2.102.0' });
  t.match(unknown, { status: 404, rule: TARGET_RULES.deviceUnknown, error: /no device named or numbered "nope"/ });
  t.match(await put(l, off.uuid, { osVersion: '2.102.0' }), {
    status: 409,
    rule: TARGET_RULES.offline,
    error: 'OS updates go to online devices only; off last seen never',
  });
  t.match(await put(l, a1.uuid, { osVersion: '2.200.0' }), {
    status: 409,
    rule: TARGET_RULES.notPublished,
    error: /OS 2\.200\.0 is not published for generic-amd64 \(published: 2\.101\.0, 2\.102\.0, 2\.102\.1, 2\.103\.0\)/,
  });
  t.match(await put(l, newer.uuid, { osVersion: '2.102.0' }), {
    status: 409,
    rule: TARGET_RULES.noDowngrade,
    error: /OS 2\.102\.0 is older than the running 2\.102\.1 of newer/,
  });
  t.match(await put(l, a1.uuid, { osVersion: '2.103.0' }), {
    status: 409,
    rule: TARGET_RULES.methodRefused,
    error: /the layout or architecture changes and no advanced path covers it/,
  });
  t.match(await put(l, a1.uuid, { osVersion: '2.101.0' }), {
    status: 409,
    rule: TARGET_RULES.methodRefused,
    error: /already runs 2\.101\.0/,
  });
  const ok = await put(l, a1.uuid, { osVersion: '2.102.0' });
  t.match(ok, { status: 200, body: { ok: true, name: 'a1', uuid: a1.uuid, target: { osVersion: '2.102.0' } } });
  t.equal((ok.body.target as Body).osSetAt, (ok.body.target as Body).setAt);
  for (const r of [unknown, ok]) t.notMatch(String(r.error ?? ''), /\n/);
  t.equal((await l.send('GET', `/v1/devices/${off.uuid}/target`)).status, 404, 'a refused target is not kept');
});

// The support policy's facts for these tests (not the recipes, so a new recipe changes nothing here).
const POLICY_FACTS: ReleaseFacts[] = [
  { version: '2.88.0', date: '2026-01-12T00:00:00Z', line: '2026.1', deviceTypes: ['generic-amd64'] },
  { version: '2.88.1', date: '2026-03-16T00:00:00Z', line: '2026.1', deviceTypes: ['generic-amd64'] },
  { version: '2.101.0', date: '2026-09-14T00:00:00Z', line: 'rolling', deviceTypes: ['generic-amd64'] },
  { version: '2.102.0', date: '2026-10-26T00:00:00Z', line: 'rolling', deviceTypes: ['generic-amd64'] },
  { version: '2.102.1', date: '2026-11-09T00:00:00Z', line: 'rolling', deviceTypes: ['generic-amd64'] },
];

t.test(
  'OS targets and the support policy: refused unless allowUnsupported, a jump not guaranteed warned',
  async (t) => {
    let today = new Date('2026-12-04T00:00:00Z');
    const l = await lab(t, { facts: async () => POLICY_FACTS, now: () => today });
    for (const v of ['2.88.0', '2.88.1']) l.backend.api.addRelease(release('generic-amd64', v, 'amd64'));
    const a1 = await l.device('a1', {});
    const esr = await l.device('esr', { os: '2.88.0' });

    // A superseded rolling release: not maintained since its successor's day.
    const old = await put(l, a1.uuid, { osVersion: '2.102.0' });
    t.match(old, {
      status: 409,
      rule: TARGET_RULES.notMaintained,
      error:
        /^not-maintained: 2\.102\.0 is a rolling release, not maintained since 2026-11-09, when 2\.102\.1 was published .*on 2026-12-04$/,
    });
    t.equal((old.body.outcome as Body).ok, false);
    t.equal((await l.send('GET', `/v1/devices/${a1.uuid}/target`)).status, 404, 'a refused target is not kept');
    // An ESR line past its end of life.
    t.match(await put(l, esr.uuid, { osVersion: '2.88.1' }), {
      status: 409,
      rule: TARGET_RULES.endOfLife,
      error: /^end-of-life: 2\.88\.1 is on ESR line 2026\.1, at end of life since 2026-10-12 .*on 2026-12-04$/,
    });
    // The same in a batch: refused per device, with the rule.
    const batch = await l.send('POST', '/v1/targets', { devices: ['a1'], osVersion: '2.102.0' });
    t.match(batch.body.results, [{ name: 'a1', ok: false, refusal: { rule: TARGET_RULES.notMaintained } }]);

    // allowUnsupported: set, with the refusal as a warning.
    const forced = await put(l, a1.uuid, { osVersion: '2.102.0', allowUnsupported: true });
    t.match(forced, {
      status: 200,
      body: { ok: true, target: { osVersion: '2.102.0' }, warning: { rule: TARGET_RULES.notMaintained } },
    });
    t.match((forced.body.warning as Body).reason, /not maintained since 2026-11-09.*allowUnsupported/);
    const forcedBatch = await l.send('POST', '/v1/targets', {
      devices: ['esr'],
      osVersion: '2.88.1',
      allowUnsupported: true,
    });
    t.match(forcedBatch.body.results, [{ name: 'esr', ok: true, warning: { rule: TARGET_RULES.endOfLife } }]);

    // A jump of more than two quarters: set, with a warning naming the quarters.
    const far = await put(l, esr.uuid, { osVersion: '2.102.1' });
    t.match(far, {
      status: 200,
      body: { ok: true, target: { osVersion: '2.102.1' }, warning: { rule: 'not-guaranteed' } },
    });
    t.match(
      (far.body.warning as Body).reason,
      /^not-guaranteed: the jump from 2\.88\.0 \(ESR 2026\.1, 2026 Q1\) to 2\.102\.1 \(rolling, 2026 Q4\) is 3 quarters/,
    );
    // A supported target: no warning.
    const fine = await put(l, a1.uuid, { osVersion: '2.102.1' });
    t.equal(fine.status, 200);
    t.notOk('warning' in fine.body, 'the latest rolling release within two quarters warns of nothing');

    // The date is the policy's: before 2.102.1 appeared, 2.102.0 was the maintained one.
    today = new Date('2026-11-01T00:00:00Z');
    const then = await put(l, a1.uuid, { osVersion: '2.102.0' });
    t.match(then, { status: 200, body: { ok: true } });
    t.notOk('warning' in then.body);

    // Bad values of the flag are a 400, not a silent default.
    const bad = await l.send('PUT', `/v1/devices/${a1.uuid}/target`, { osVersion: '2.102.0', allowUnsupported: 'yes' });
    t.match(bad, { status: 400, body: { error: '"allowUnsupported" must be true or false when given' } });
    // The choices a dashboard lists say the same.
    today = new Date('2026-12-04T00:00:00Z');
    const choices = await l.send('GET', `/v1/devices/${a1.uuid}/choices`);
    const os = choices.body.os as Array<{ version: string; ok: boolean; refusal?: { rule: string } }>;
    t.match(
      os.find((c) => c.version === '2.102.0'),
      { ok: false, refusal: { rule: TARGET_RULES.notMaintained } },
    );
    t.match(
      os.find((c) => c.version === '2.102.1'),
      { ok: true },
    );
  },
);

t.test("without a policy (a run's backend) OS targets are judged by what it published only", async (t) => {
  const l = await lab(t);
  const a1 = await l.device('a1', {});
  const r = await put(l, a1.uuid, { osVersion: '2.102.0' });
  t.equal(r.status, 200);
  t.notOk('warning' in r.body);
});

t.test('supervisor targets: each rule refuses; an offline device may get one; the OS target stays', async (t) => {
  const l = await lab(t);
  const a1 = await l.device('a1', {});
  const old = await l.device('old', { os: '2.9.0', sv: '14.0.0' });
  const off = await l.device('off', { online: false });

  t.match(await put(l, a1.uuid, { supervisorVersion: '16.99.0' }), {
    status: 409,
    rule: TARGET_RULES.notPublished,
    error:
      /supervisor 16\.99\.0 is not published for amd64 \(published: 16\.7\.0, 16\.8\.0, 16\.9\.0, 16\.10\.0, 17\.0\.0\)/,
  });
  t.match(await put(l, a1.uuid, { supervisorVersion: '16.7.0' }), { status: 409, rule: TARGET_RULES.noDowngrade });
  t.match(await put(l, old.uuid, { supervisorVersion: '16.9.0' }), {
    status: 409,
    rule: TARGET_RULES.osTooOld,
    error: /OS 2\.9\.0 is older than 2\.12\.0/,
  });
  t.match(await put(l, a1.uuid, { supervisorVersion: '16.10.0' }), {
    status: 409,
    rule: TARGET_RULES.osTooOld,
    error: /supervisor 16\.10\.0 needs OS 2\.102\.0 or newer; the device runs 2\.101\.0/,
  });
  t.match(await put(l, a1.uuid, { supervisorVersion: '17.0.0' }), {
    status: 409,
    rule: TARGET_RULES.majorNeedsConfirmation,
  });
  t.match(await put(l, off.uuid, { supervisorVersion: '16.9.0' }), {
    status: 200,
    body: { ok: true, target: { supervisorVersion: '16.9.0' } },
  });

  const os = await put(l, a1.uuid, { osVersion: '2.102.0' });
  const osSetAt = (os.body.target as Body).osSetAt;
  await new Promise((r) => setTimeout(r, 5));
  const both = await put(l, a1.uuid, { supervisorVersion: '17.0.0', confirmMajor: true });
  t.match(both.body.target, { osVersion: '2.102.0', osSetAt, supervisorVersion: '17.0.0', confirmMajor: true });
  t.not((both.body.target as Body).setAt, osSetAt, 'setAt is when it was last set');
  const mine = await l.send('GET', `/v1/devices/${a1.uuid}/target`, undefined, a1.key);
  t.same(mine.body, both.body.target, 'the device reads its own target with its key');
  t.equal((await l.send('GET', `/v1/devices/${a1.uuid}/target`, undefined, old.key)).status, 403, "not another's");
  t.equal((await l.send('PUT', `/v1/devices/${a1.uuid}/target`, { osVersion: '2.102.0' }, a1.key)).status, 403);
  t.match(await put(l, a1.uuid, { osVersion: 2 }), { status: 400, error: /"osVersion" must be a version/ });
  t.match(await put(l, a1.uuid, {}), { status: 400, error: /needs "osVersion" or "supervisorVersion"/ });
});

t.test(
  'batches: refusals per device, the rest go ahead; a supervisor batch of mixed arches is refused whole',
  async (t) => {
    const l = await lab(t);
    await l.device('a1', {});
    await l.device('a2', {});
    await l.device('off', { online: false });
    await l.device('pi', { deviceType: 'raspberrypi3-64', arch: 'arm64' });

    const os = await l.send('POST', '/v1/targets', { devices: ['a1', 'ghost', 'off'], osVersion: '2.102.0' });
    t.equal(os.status, 200);
    t.match(os.body.results, [
      { name: 'a1', ok: true, target: { osVersion: '2.102.0' } },
      { name: 'ghost', ok: false, refusal: { rule: TARGET_RULES.deviceUnknown } },
      { name: 'off', ok: false, refusal: { rule: TARGET_RULES.offline } },
    ]);

    const mixed = await l.send('POST', '/v1/targets', { devices: ['a1', 'pi', 'a2'], supervisorVersion: '16.9.0' });
    const results = mixed.body.results as Array<{ ok: boolean; refusal: { rule: string; reason: string } }>;
    t.equal(results.length, 3);
    for (const r of results) {
      t.equal(r.ok, false);
      t.equal(r.refusal.rule, TARGET_RULES.mixedArch);
      t.match(r.refusal.reason, /this batch's is amd64 \(most of its devices.*\), and pi \(arm64\) is of another/);
    }
    const one = await l.send('POST', '/v1/targets', { devices: ['a1', 'a2', 'off'], supervisorVersion: '16.9.0' });
    t.match(one.body.results, [{ ok: true }, { ok: true }, { ok: true }], 'one arch: all go, offline too');
    t.match((await l.send('POST', '/v1/targets', { devices: [], osVersion: '2.102.0' })).body, {
      error: /needs "devices"/,
    });
    t.match(
      (await l.send('POST', '/v1/targets', { devices: ['a1'], osVersion: '2.102.0', supervisorVersion: '16.9.0' }))
        .body,
      { error: /one kind of target/ },
    );
  },
);

t.test('the fleet rows follow a target through real heartbeats: pending, in-progress, failed, reached', async (t) => {
  const l = await lab(t);
  const a1 = await l.device('a1', {});
  const idle = await l.device('idle', {});
  const row = async (name: string) =>
    ((await l.send('GET', '/v1/fleet')).body.devices as Body[]).find((d) => d.name === name)!;

  t.match(await row('idle'), { targetProgress: 'none', target: null, progress: null, online: true });
  await l.send('PATCH', `/v1/devices/${a1.uuid}/progress`, { percent: 5, message: 'before' }, a1.key);
  const set = await put(l, a1.uuid, { osVersion: '2.102.0' });
  const setAt = (set.body.target as Body).setAt as string;
  t.match(await row('a1'), { targetProgress: 'pending', progress: null }, 'progress from before the target is not its');

  const reply = await l.beat(a1, { osVersion: '2.101.0', supervisorVersion: '16.8.0', status: 'Idle' });
  t.match(reply.body, { target: { osVersion: '2.102.0', setAt } }, 'the heartbeat answers the target');
  t.equal(
    (await l.beat(idle, { status: 'Idle' })).body.target,
    null,
    'no target: null, so the agent need not ask for it elsewhere',
  );

  const attempt = (outcome: string, targetSetAt = setAt) => ({
    os: { kind: 'os', version: '2.102.0', targetSetAt, outcome, at: new Date().toISOString() },
  });
  await l.beat(a1, { status: 'Updating OS', lastUpdate: attempt('started') });
  t.match(await row('a1'), { targetProgress: 'in-progress', status: 'Updating OS' });
  await l.send('PATCH', `/v1/devices/${a1.uuid}/progress`, { percent: 40, message: 'Downloading' }, a1.key);
  t.match(await row('a1'), { targetProgress: 'in-progress', progress: { percent: 40, message: 'Downloading' } });
  await l.beat(a1, { status: 'OS update failed', lastUpdate: { os: { ...attempt('failed').os, reason: 'no space' } } });
  t.match(await row('a1'), { targetProgress: 'failed', lastUpdate: { os: { reason: 'no space' } } });

  await new Promise((r) => setTimeout(r, 5));
  await put(l, a1.uuid, { osVersion: '2.102.0' });
  t.match(await row('a1'), { targetProgress: 'pending' }, 'set again: the failed attempt was of the old target');
  await l.beat(a1, { osVersion: '2.102.0', status: 'Verifying OS' });
  t.match(await row('a1'), { targetProgress: 'pending' }, 'the new OS runs but is not committed: not reached');
  await l.beat(a1, { osVersion: '2.102.0', status: 'Idle' });
  t.match(await row('a1'), { targetProgress: 'reached', osVersion: '2.102.0' });

  await put(l, idle.uuid, { supervisorVersion: '16.9.0' });
  await l.beat(idle, { supervisorVersion: '16.9.0', status: 'Idle' });
  t.match(await row('idle'), { targetProgress: 'reached' });

  for (const bad of [
    { lastUpdate: [] },
    { lastUpdate: { app: {} } },
    { lastUpdate: { os: { kind: 'supervisor' } } },
    { lastUpdate: { os: { ...attempt('maybe').os } } },
    { lastUpdate: { os: { ...attempt('done').os, targetSetAt: 'yesterday' } } },
  ]) {
    const r = await l.beat(a1, bad);
    t.equal(r.status, 400, JSON.stringify(bad));
    t.match(r.body.error, /lastUpdate/);
  }

  // Its uptime becomes the time it booted, by the server's clock, in whole seconds.
  const before = Date.now();
  await l.beat(a1, { status: 'Idle', uptimeSeconds: 3600 });
  const booted = Date.parse(String((await row('a1')).bootedAt));
  t.ok(booted >= Math.floor(before / 1000) * 1000 - 3_601_000 && booted <= Date.now() - 3_599_000, 'an hour ago');
  t.equal(booted % 1000, 0);
  await l.beat(a1, { status: 'Idle' });
  t.equal(Date.parse(String((await row('a1')).bootedAt)), booted, 'a heartbeat without it keeps the last');
  for (const bad of [-1, 1.5, '60', 1e12]) {
    const r = await l.beat(a1, { uptimeSeconds: bad });
    t.equal(r.status, 400, String(bad));
    t.match(r.body.error, /uptimeSeconds/);
  }
});

t.test('any request of a device keeps it online: a device running an update reports progress only', async (t) => {
  const l = await lab(t);
  const quiet = await l.device('quiet', { online: false });
  const before = ((await l.send('GET', '/v1/fleet')).body.devices as Body[])[0]!;
  t.match(before, { online: false, lastSeen: null });
  await l.send('PATCH', `/v1/devices/${quiet.uuid}/progress`, { percent: 10, message: 'Writing' }, quiet.key);
  const after = ((await l.send('GET', '/v1/fleet')).body.devices as Body[])[0]!;
  t.match(after, { online: true, lastSeen: /^20/ });
  t.equal((await l.send('GET', '/v1/fleet', undefined, quiet.key)).status, 403, 'the fleet is the operator’s');
});

t.test('a heartbeat writes lastSeen once, with its report; a refused one still says the device is there', async (t) => {
  const l = await lab(t);
  const quiet = await l.device('quiet', { online: false });
  const { touch, reportState } = MemoryDeviceRecords.prototype;
  const touches = t.capture(MemoryDeviceRecords.prototype, 'touch', touch);
  const reports = t.capture(MemoryDeviceRecords.prototype, 'reportState', reportState);
  t.equal((await l.beat(quiet, { status: 'Idle' })).status, 200);
  t.equal(touches().length, 0, 'no second write of lastSeen');
  t.equal(reports().length, 1);
  const other = await l.device('other', { online: false });
  for (const bad of [{ status: 7 }, { uptimeSeconds: -1 }]) {
    t.equal((await l.beat(other, bad)).status, 400);
    t.match(touches(), [{ args: [other.uuid, /^20/] }], 'heard from despite the bad body');
  }
  t.equal(reports().length, 0, 'nothing of a refused beat is stored');
  const fleet = (await l.send('GET', '/v1/fleet')).body.devices as Body[];
  t.match(
    fleet.find((d) => d.name === 'other'),
    { online: true, lastSeen: /^20/ },
  );
  t.equal((await l.beat({ uuid: quiet.uuid, key: other.key }, { status: 'Idle' })).status, 403, "another's beat");
  t.match(touches(), [{ args: [other.uuid] }], 'the sender was heard from, not the device it named');
});

t.test("a device's choices: each version, allowed with its method, or refused with the rule", async (t) => {
  const l = await lab(t);
  const a1 = await l.device('a1', {});
  const r = await l.send('GET', `/v1/devices/${a1.uuid}/choices`, undefined, a1.key);
  t.equal(r.status, 200);
  t.match(r.body.os, [
    { version: '2.101.0', ok: false, refusal: { rule: TARGET_RULES.methodRefused } },
    { version: '2.102.0', ok: true, method: 'standard' },
    { version: '2.102.1', ok: true, method: 'standard' },
    { version: '2.103.0', ok: false, refusal: { rule: TARGET_RULES.methodRefused } },
  ]);
  t.match(r.body.supervisor, [
    { version: '16.7.0', ok: false, refusal: { rule: TARGET_RULES.noDowngrade } },
    { version: '16.8.0', ok: true },
    { version: '16.9.0', ok: true },
    { version: '16.10.0', ok: false, refusal: { rule: TARGET_RULES.osTooOld } },
    { version: '17.0.0', ok: true },
  ]);
});

t.test('lab faults: armed, listed and cleared by the operator; bad specs are one line', async (t) => {
  const l = await lab(t);
  const armed = await l.send('POST', '/v1/lab/faults', { group: 'primary', kind: 'corrupt', offset: 0, path: 'blobs' });
  t.equal(armed.status, 201);
  t.match((await l.send('GET', '/v1/lab/faults')).body.faults, [
    { group: 'primary', kind: 'corrupt', offset: 0, path: 'blobs', fired: 0 },
  ]);
  t.same(l.backend.faults.list().length, 1, 'the backend itself has it armed');
  for (const [bad, re] of [
    [{ group: 'moon', kind: 'down' }, /"group", one of: api, primary, fallback, delta/],
    [{ group: 'api', kind: 'explode' }, /unknown fault kind "explode"/],
    [{ group: 'api', kind: 'down', path: '(' }, /path is not a regular expression/],
    [{ group: 'api', kind: 'slow', bytesPerSecond: 0 }, /bytesPerSecond must be an integer >= 1/],
    [{ group: 'api', kind: 'down', color: 'red' }, /no field "color"/],
  ] as const) {
    const r = await l.send('POST', '/v1/lab/faults', bad);
    t.equal(r.status, 400, JSON.stringify(bad));
    t.match(r.body.error, re);
    t.notMatch(String(r.body.error), /\n/);
  }
  const d = await l.device('d', {});
  t.equal((await l.send('POST', '/v1/lab/faults', { group: 'api', kind: 'down' }, d.key)).status, 403);
  t.same((await l.send('DELETE', '/v1/lab/faults/primary')).body, { faults: [] });
  t.equal((await l.send('DELETE', '/v1/lab/faults/moon')).status, 404);
});

t.test('the request log: what each service served, by group, for the operator only; cleared on DELETE', async (t) => {
  const l = await lab(t);
  const d = await l.device('d', {});
  await l.send('GET', '/v1/fleet');
  await l.send('PATCH', `/v1/devices/${d.uuid}/state`, { status: 'Idle' }, d.key);
  const all = await l.send('GET', '/v1/lab/requests');
  t.equal(all.status, 200);
  const paths = (all.body.requests as Array<{ group: string; method: string; path: string; status: number }>).map(
    (r) => `${r.group} ${r.method} ${r.path} ${r.status}`,
  );
  t.ok(paths.includes('api GET /v1/fleet 200'), paths.join('\n'));
  t.ok(paths.includes(`api PATCH /v1/devices/${d.uuid}/state 200`));
  t.same((await l.send('GET', '/v1/lab/requests?group=primary')).body, { requests: [] }, 'by group');
  t.match((await l.send('GET', '/v1/lab/requests?group=moon')).body.error, /"moon" is not a service/);
  t.equal((await l.send('GET', '/v1/lab/requests', undefined, d.key)).status, 403, 'a device may not read it');
  t.equal((await l.send('DELETE', '/v1/lab/requests')).status, 200);
  const after = (await l.send('GET', '/v1/lab/requests')).body.requests as Array<{ path: string }>;
  t.same(
    after.map((r) => r.path),
    ['/v1/lab/requests'],
    'only the request that reads it (it is logged as it arrives)',
  );
});

t.test('the request log keeps the newest entries of each group only: a lab server runs for days', async (t) => {
  const log = new RequestLog(3);
  for (let i = 1; i <= 5; i++) log.start('api', { method: 'GET', path: `/${i}`, status: 200, bytesSent: 0, time: i });
  log.start('delta', { method: 'GET', path: '/d', status: 200, bytesSent: 0, time: 9 });
  t.same(
    log.list('api').map((e) => e.path),
    ['/3', '/4', '/5'],
  );
  t.equal(log.list('delta').length, 1, 'per group');
});

t.test(
  'a batch is judged as the fleet stood when it came: a slow publication does not take the next device offline',
  async (t) => {
    // The first device's release takes 2.5 s to publish; the second was last heard 28.5 s before the
    // request, inside the 30 s window then, outside it once the first publication is done.
    const slow: FleetSource = {
      os: async (d, version) => ({
        ok: true,
        value: { version, deviceType: d.deviceType, layout: 'balena-ab-v1', arch: d.arch },
      }),
      osVersions: async () => ['2.101.0', '2.102.0'],
      supervisor: async () => ({ ok: true, value: { minOsVersion: '2.12.0' } }),
      supervisorVersions: async () => [],
      publish: async (d) => {
        if (d.name === 'first') await new Promise((r) => setTimeout(r, 2_500));
      },
    };
    const records = new MemoryDeviceRecords();
    const backend = await startBackend({ records, fleet: slow });
    t.teardown(() => backend.stop());
    const now = Date.now();
    for (const [uuid, name, seenMsAgo] of [
      ['u1', 'first', 0],
      ['u2', 'second', 28_500],
    ] as const) {
      records.register(
        { uuid, name, deviceType: 'generic-amd64', arch: 'amd64', osVersion: '2.101.0' },
        new Date(now).toISOString(),
      );
      records.reportState(uuid, { status: 'Idle' }, new Date(now - seenMsAgo).toISOString());
    }
    const res = await fetch(`${backend.urls.api}/v1/targets`, {
      method: 'POST',
      headers: { ...backend.operatorHeaders(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ devices: ['first', 'second'], osVersion: '2.102.0' }),
    });
    const body = (await res.json()) as { results: Array<{ name: string; ok: boolean; refusal?: { rule: string } }> };
    t.ok(Date.now() - now >= 2_500, 'the first publication took its time');
    t.match(body.results, [
      { name: 'first', ok: true },
      { name: 'second', ok: true },
    ]);
  },
);

t.test('a batch publishes side by side, in the order asked: devices do not wait for each other', async (t) => {
  let inFlight = 0;
  let most = 0;
  const source: FleetSource = {
    os: async (d, version) => ({
      ok: true,
      value: { version, deviceType: d.deviceType, layout: 'balena-ab-v1', arch: d.arch },
    }),
    osVersions: async () => ['2.101.0', '2.102.0'],
    supervisor: async () => ({ ok: true, value: { minOsVersion: '2.12.0' } }),
    supervisorVersions: async () => [],
    publish: async (d) => {
      inFlight++;
      most = Math.max(most, inFlight);
      // The last device asked is the quickest: its outcome must still come last.
      await new Promise((r) => setTimeout(r, d.name === 'c' ? 50 : 1_000));
      inFlight--;
    },
  };
  const records = new MemoryDeviceRecords();
  const backend = await startBackend({ records, fleet: source });
  t.teardown(() => backend.stop());
  const at = new Date().toISOString();
  for (const name of ['a', 'b', 'c']) {
    records.register({ uuid: `u-${name}`, name, deviceType: 'generic-amd64', arch: 'amd64', osVersion: '2.101.0' }, at);
    records.reportState(`u-${name}`, { status: 'Idle' }, at);
  }
  const t0 = Date.now();
  const res = await fetch(`${backend.urls.api}/v1/targets`, {
    method: 'POST',
    headers: { ...backend.operatorHeaders(), 'Content-Type': 'application/json' },
    body: JSON.stringify({ devices: ['a', 'b', 'c', 'ghost'], osVersion: '2.102.0' }),
  });
  const body = (await res.json()) as { results: Array<{ name: string; ok: boolean }> };
  t.equal(most, 3, 'the three publications were under way together');
  t.ok(Date.now() - t0 < 1_900, 'the batch took about one publication, not three');
  t.same(
    body.results.map((r) => [r.name, r.ok]),
    [
      ['a', true],
      ['b', true],
      ['c', true],
      ['ghost', false],
    ],
  );
});
