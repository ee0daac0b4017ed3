import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { SUPERVISOR_CHOICE, SUPERVISOR_RUN_STATE } from '../lib/contract/supervisor.ts';
import { AGENT_DIR, AGENT_FILES } from '../lib/contract/fleet.ts';
import { attachDevice } from '../harness/device/emulated.ts';
import { analyseRecords, parseRecords } from '../harness/update/records.ts';
import { expect, BASE_RELEASE, NEXT_RELEASE, PATCH_RELEASE, PINNED, test } from './fixtures.ts';
import {
  appRecords,
  fleet,
  huplab,
  json,
  onDevice,
  operator,
  serve,
  startDevice as start,
  type TargetResults,
  type WaitOutcomes,
} from './fleet-cli.ts';

/**
 * The lab as a fleet (issue 17): `huplab serve` runs, devices started with `huplab device start`
 * register with it, and targets set with `huplab fleet` are carried out by the supervisor agent
 * on each device. Everything goes through the commands a release engineer types; the device is
 * asked over SSH only for what the API cannot prove (boot id, the application's records).
 */
test.describe('fleet', { tag: ['@emulated', '@fleet'] }, () => {
  test.describe.configure({ mode: 'serial' });
  let server: ChildProcess | undefined;

  test.beforeAll(async ({ lab }) => {
    server = await serve(lab);
  });

  test.afterAll(async ({ lab }) => {
    for (const n of ['f1', 'f2', 'old', 'arm', 'pc'])
      await huplab(lab, ['device', 'stop', '--force', '--name', n], 60_000);
    if (server && server.exitCode === null) await huplab(lab, ['serve', '--stop']);
  });

  test('a supervisor upgrade without a reboot; downgrade, major and bad digest refused or kept', async ({ lab }) => {
    test.setTimeout(20 * 60_000);
    await Promise.all([start(lab, 'f1', BASE_RELEASE), start(lab, 'f2', BASE_RELEASE)]);
    const before = (await fleet(lab)).get('f1')!;
    expect(before.online).toBe(true);
    const bootId = await onDevice(lab, 'f1', 'cat /proc/sys/kernel/random/boot_id');
    const recordsBefore = await appRecords(lab, 'f1');
    const t0 = Date.now();

    const set = await json<TargetResults>(lab, ['fleet', 'supervisor', '--version', '16.9.0', 'f1']);
    expect(set.results).toEqual([expect.objectContaining({ name: 'f1', ok: true })]);
    const waited = await json<WaitOutcomes>(lab, ['fleet', 'wait', 'f1', '--timeout', '600']);
    expect(waited.devices).toEqual([expect.objectContaining({ name: 'f1', targetProgress: 'reached' })]);

    expect((await fleet(lab)).get('f1')!.supervisorVersion).toBe('16.9.0');
    expect(await onDevice(lab, 'f1', 'cat /proc/sys/kernel/random/boot_id'), 'no reboot').toBe(bootId);
    const running = JSON.parse(await onDevice(lab, 'f1', `cat ${SUPERVISOR_RUN_STATE}`)) as { version: string };
    expect(running.version, 'the new supervisor runs').toBe('16.9.0');
    // The application kept running: every record kept, none missing, no gap, one boot since the trigger.
    const recordsAfter = await appRecords(lab, 'f1');
    const app = analyseRecords(recordsBefore, recordsAfter);
    expect(app).toMatchObject({ intact: true, continuous: true });
    expect(app.maxGapSeconds).toBeLessThan(5);
    const since = parseRecords(recordsAfter).filter((r) => r.ms >= t0);
    expect(since.length).toBeGreaterThan(5);
    expect(new Set(since.map((r) => r.boot)).size).toBe(1);

    const down = await huplab(lab, ['fleet', 'supervisor', '--version', '16.8.0', 'f1']);
    expect(down.code).toBe(1);
    expect(down.stdout + down.stderr).toMatch(/f1.*no-downgrade/);
    const major = await huplab(lab, ['fleet', 'supervisor', '--version', '17.0.0', 'f1']);
    expect(major.code).toBe(1);
    expect(major.stdout + major.stderr).toMatch(/f1.*major-needs-confirmation/);

    // A corrupt image: every blob of the supervisor's repository flipped in both registries.
    for (const group of ['primary', 'fallback']) {
      const fault = { group, kind: 'corrupt', offset: 100, path: 'supervisor-amd64/blobs/' };
      const armed = await operator(lab, '/v1/lab/faults', { method: 'POST', body: JSON.stringify(fault) });
      expect(armed.status, await armed.text()).toBeLessThan(300);
    }
    const bad = await huplab(lab, ['fleet', 'supervisor', '--version', '17.0.0', '--confirm-major', 'f1']);
    expect(bad.code, bad.stderr).toBe(0);
    const failed = await json<WaitOutcomes>(lab, ['fleet', 'wait', 'f1', '--timeout', '300']);
    expect(failed.devices).toEqual([expect.objectContaining({ name: 'f1', targetProgress: 'failed' })]);
    expect(JSON.parse(await onDevice(lab, 'f1', `cat ${SUPERVISOR_RUN_STATE}`)).version, 'the old one runs').toBe(
      '16.9.0',
    );
    for (const group of ['primary', 'fallback']) await operator(lab, `/v1/lab/faults/${group}`, { method: 'DELETE' });
    // The operator pins the supervisor that runs: the failed target is replaced, nothing to do.
    const pinned = await json<TargetResults>(lab, ['fleet', 'supervisor', '--version', '16.9.0', 'f1']);
    expect(pinned.results).toEqual([expect.objectContaining({ name: 'f1', ok: true })]);
    const settled = await json<WaitOutcomes>(lab, ['fleet', 'wait', 'f1', '--timeout', '120']);
    expect(settled.devices).toEqual([expect.objectContaining({ name: 'f1', targetProgress: 'reached' })]);
  });

  test('offline: a supervisor target waits for the link; an OS target skips the offline device', async ({ lab }) => {
    test.setTimeout(25 * 60_000);
    await huplab(lab, ['device', 'link', '--name', 'f2', 'down']);
    await expect.poll(async () => (await fleet(lab)).get('f2')!.online, { timeout: 90_000 }).toBe(false);
    const sup = await huplab(lab, ['fleet', 'supervisor', '--version', '16.9.0', 'f2']);
    expect(sup.code, sup.stderr).toBe(0);
    const os = await json<TargetResults>(lab, ['fleet', 'os', '--version', NEXT_RELEASE, ...PINNED, 'f1', 'f2']);
    expect(os.results).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'f1', ok: true }),
        expect.objectContaining({ name: 'f2', ok: false, refusal: expect.objectContaining({ rule: 'offline' }) }),
      ]),
    );
    await new Promise((r) => setTimeout(r, 20_000));
    expect((await fleet(lab)).get('f2')!.supervisorVersion, 'nothing happens while offline').not.toBe('16.9.0');
    await huplab(lab, ['device', 'link', '--name', 'f2', 'up']);
    const waited = await json<WaitOutcomes>(lab, ['fleet', 'wait', 'f1', 'f2', '--timeout', '1200']);
    expect(waited.devices).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'f1', targetProgress: 'reached' }),
        expect.objectContaining({ name: 'f2', targetProgress: 'reached' }),
      ]),
    );
    const rows = await fleet(lab);
    expect(rows.get('f1')!.osVersion).toBe(NEXT_RELEASE);
    expect(rows.get('f2')!.supervisorVersion).toBe('16.9.0');
    expect(rows.get('f2')!.osVersion, 'the offline device was left alone').toBe(BASE_RELEASE);
  });

  test('the server restarted: devices, targets and history kept; then a batch OS update of two devices', async ({
    lab,
  }) => {
    test.setTimeout(25 * 60_000);
    type Device = { target?: { supervisorVersion?: string }; history: Array<{ message: string }> };
    const read = async (uuid: string) => (await (await operator(lab, `/v1/devices/${uuid}`)).json()) as Device;
    const before = await fleet(lab);
    const f2Before = await read(before.get('f2')!.uuid);
    const targetBefore = (await (await operator(lab, `/v1/devices/${before.get('f2')!.uuid}/target`)).json()) as {
      supervisorVersion?: string;
    };
    expect(targetBefore.supervisorVersion, 'the supervisor target of the offline test').toBe('16.9.0');
    expect((await huplab(lab, ['serve', '--stop'])).code).toBe(0);
    server = await serve(lab);
    const after = await fleet(lab);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [name, row] of before)
      expect(after.get(name)).toMatchObject({ uuid: row.uuid, osVersion: row.osVersion, targetProgress: 'reached' });
    expect((await read(after.get('f2')!.uuid)).history, 'the progress history').toEqual(f2Before.history);
    expect((await (await operator(lab, `/v1/devices/${after.get('f2')!.uuid}/target`)).json()) as object).toMatchObject(
      targetBefore,
    );
    // The devices find the server where it was (same ports) and are online again.
    await expect
      .poll(async () => [...(await fleet(lab)).values()].every((r) => r.online), { timeout: 60_000 })
      .toBe(true);

    const set = await json<TargetResults>(lab, ['fleet', 'os', '--version', PATCH_RELEASE, ...PINNED, 'f1', 'f2']);
    expect(
      set.results.filter((r) => !r.ok),
      'none refused',
    ).toEqual([]);
    expect(set.results).toHaveLength(2);
    const waited = await json<WaitOutcomes>(lab, ['fleet', 'wait', 'f1', 'f2', '--timeout', '1200']);
    expect(waited.devices.map((d) => d.targetProgress)).toEqual(['reached', 'reached']);
    const rows = await fleet(lab);
    for (const n of ['f1', 'f2']) {
      expect(rows.get(n)!.osVersion).toBe(PATCH_RELEASE);
      expect(rows.get(n)!.status).toBe('Idle');
      expect(rows.get(n)!.progress?.percent).toBe(100);
      expect(await onDevice(lab, n, 'ls /mnt/state')).not.toMatch(/breadcrumb/);
    }
    expect(readFileSync(join(lab.dir, 'lab.db')).length).toBeGreaterThan(0);
  });

  test('an OS older than 2.12.0 and a mixed-arch batch are refused', async ({ lab }) => {
    test.setTimeout(25 * 60_000);
    await Promise.all([start(lab, 'old', '2.11.0'), start(lab, 'arm', BASE_RELEASE, 'raspberrypi3-64')]);
    const old = await json<TargetResults>(lab, ['fleet', 'supervisor', '--version', '16.9.0', 'old']);
    expect(old.results[0]).toMatchObject({ name: 'old', ok: false, refusal: { rule: 'os-too-old' } });
    expect(old.results[0]!.refusal!.reason).toMatch(/2\.11\.0.*2\.12\.0/);
    const rows = await fleet(lab);
    expect(rows.get('arm')!.arch).toBe('arm64');
    const before = rows.get('f1')!.supervisorVersion;
    const mixed = await json<TargetResults>(lab, [
      'fleet',
      'supervisor',
      '--version',
      '17.0.0',
      '--confirm-major',
      'f1',
      'arm',
    ]);
    expect(mixed.ok).toBe(false);
    for (const r of mixed.results) expect(r).toMatchObject({ ok: false, refusal: { rule: 'mixed-arch' } });
    expect(mixed.results.map((r) => r.refusal!.reason).join('\n')).toMatch(/arm/);
    await new Promise((r) => setTimeout(r, 15_000));
    expect((await fleet(lab)).get('f1')!.supervisorVersion, 'a refused batch changes nothing').toBe(before);
  });

  test('a power cut during a supervisor upgrade leaves the old or the new supervisor running, never none', async ({
    lab,
  }) => {
    test.setTimeout(20 * 60_000);
    await start(lab, 'pc', BASE_RELEASE);
    const old = (await fleet(lab)).get('pc')!.supervisorVersion!;
    /** Polls the device until `probe` (a shell command) prints something, then cuts its power at once. */
    const cutWhen = async (probe: string) => {
      await expect
        .poll(async () => (await onDevice(lab, 'pc', `${probe} || true`)).trim(), {
          timeout: 120_000,
          intervals: [300],
        })
        .not.toBe('');
      expect((await huplab(lab, ['device', 'stop', '--force', '--name', 'pc'])).code).toBe(0);
      const d = attachDevice(lab, 'pc');
      try {
        await d.powerOn();
        await d.waitForOs({ timeoutMs: 240_000 });
      } finally {
        d.close();
      }
    };
    /** The supervisor that runs after the cut: its own report, fresh (it beats every 2 s). */
    const running = async () => {
      await new Promise((r) => setTimeout(r, 5_000));
      const s = JSON.parse(await onDevice(lab, 'pc', `cat ${SUPERVISOR_RUN_STATE}; echo`)) as { version: string };
      const age = Number(await onDevice(lab, 'pc', `echo $(( $(date +%s) - $(stat -c %Y ${SUPERVISOR_RUN_STATE}) ))`));
      expect(age, 'its heartbeat is fresh: a supervisor runs').toBeLessThan(10);
      return s.version;
    };

    // In the middle of the download (the registries slowed to 1.5 kB/s: the 27 kB layer takes about
    // 18 s, longer than a busy host takes to see the download start over SSH, shorter than the
    // agent's 30 s request timeout): the old one runs, the choice untouched, no partial install left.
    for (const group of ['primary', 'fallback']) {
      const slow = { group, kind: 'slow', bytesPerSecond: 1_500, path: 'supervisor-amd64/blobs/' };
      expect((await operator(lab, '/v1/lab/faults', { method: 'POST', body: JSON.stringify(slow) })).status).toBe(201);
    }
    expect((await huplab(lab, ['fleet', 'supervisor', '--version', '16.9.0', 'pc'])).code).toBe(0);
    await cutWhen(`grep -l 'pulling huplab/supervisor' ${AGENT_FILES.log}`);
    for (const group of ['primary', 'fallback']) await operator(lab, `/v1/lab/faults/${group}`, { method: 'DELETE' });
    expect(await running()).toBe(old);
    expect(await onDevice(lab, 'pc', `ls -a ${AGENT_DIR}`)).not.toMatch(/\.partial/);

    // The choice written, the restart not yet made: the new one runs after the cut.
    expect((await huplab(lab, ['fleet', 'supervisor', '--version', '16.9.0', 'pc'])).code).toBe(0);
    await cutWhen(`grep -l 16.9.0 ${SUPERVISOR_CHOICE}`);
    expect(await running()).toBe('16.9.0');
    const waited = await json<WaitOutcomes>(lab, ['fleet', 'wait', 'pc', '--timeout', '300']);
    expect(waited.devices).toEqual([expect.objectContaining({ name: 'pc', targetProgress: 'reached' })]);
  });
});
