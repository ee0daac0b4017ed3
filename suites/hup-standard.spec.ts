import { join } from 'node:path';
import { startDevice, type StartedDevice } from '../harness/device/session.ts';
import { startLabBackend, updateDevice, type LabBackend, type UpdateOutcome } from '../harness/hup/run-hup.ts';
import { expectSuccess } from '../harness/hup/verdict.ts';
import { BASE_RELEASE, NEXT_RELEASE, expect, test } from './fixtures.ts';

const PATCH_RELEASE = process.env.HUPLAB_PATCH_RELEASE ?? '2.102.1';

/** Every standard HUP that should succeed must satisfy the same verdict; show why when not. */
function expectCommitted(o: UpdateOutcome): void {
  const v = expectSuccess(o);
  expect(v.checks.filter((c) => !c.ok), JSON.stringify(o.steps)).toEqual([]);
}

test.describe('hup-standard', () => {
  // The backend with the three releases and the deltas between them is shared by the file's tests.
  let lab: LabBackend;
  test.beforeAll(async ({ deviceProfile }) => {
    test.setTimeout(10 * 60_000);
    lab = await startLabBackend({ device: deviceProfile, releases: [BASE_RELEASE, NEXT_RELEASE, PATCH_RELEASE] });
  });
  test.afterAll(async () => { await lab?.backend.stop(); });
  test.afterEach(async () => { lab.backend.faults.clear(); });

  async function device(flash: (o: object) => Promise<StartedDevice>): Promise<StartedDevice> {
    return flash({ release: BASE_RELEASE, config: lab.deviceConfig });
  }

  test('with a delta: root switched, version changed, /data intact, breadcrumbs cleared, progress at the API', async ({ flash }, testInfo) => {
    const d = await device(flash);
    const o = await updateDevice({ device: d.device, lab, to: NEXT_RELEASE, uuid: d.record.uuid, logsDir: join(d.device.paths.dir, 'logs') });
    for (const l of o.logs) await testInfo.attach(l.split('/').at(-1)!, { path: l, contentType: 'text/plain' });
    expectCommitted(o);
    expect(o.download?.kind).toBe('delta');
    expect(o.download!.bytes).toBeLessThan(300_000);
    expect(o.steps.map((s) => s.step)).toEqual(['checks', 'stop-supervisor', 'fetch', 'write-root', 'boot-files', 'breadcrumbs', 'supervisor-update', 'bootloader-switch', 'reboot']);
    expect(o.after.supervisorVersion).not.toBe(o.before.supervisorVersion);
    expect(o.progress.map((p) => `${p.percent} ${p.message}`)).toEqual(expect.arrayContaining(['25 Preparing OS update', '50 Running OS update', '100 Update successful, rebooting']));
    const log = o.logs.find((l) => /upgrade-2\.x\.sh\.\d{8}_\d{6}\.log$/.test(l));
    expect(log, 'the updater log is in /mnt/data/balenahup').toBeTruthy();
    // Records continue across the reboot; the only gap is the reboot itself.
    expect(o.records.versions).toEqual([BASE_RELEASE, NEXT_RELEASE]);
  });

  test('without a delta: the full image is pulled from the primary registry', async ({ flash }) => {
    const d = await device(flash);
    lab.backend.faults.set('delta', { kind: 'missing-delta' });
    const o = await updateDevice({ device: d.device, lab, to: NEXT_RELEASE, uuid: d.record.uuid, logsDir: join(d.device.paths.dir, 'logs') });
    expectCommitted(o);
    expect(o.download?.kind).toBe('full');
    expect(o.download?.source).toBe(lab.deviceConfig.registryEndpoint);
  });

  test('primary registry down: the fallback registry is used', async ({ flash }) => {
    const d = await device(flash);
    lab.backend.faults.set('delta', { kind: 'missing-delta' });
    lab.backend.faults.set('primary', { kind: 'down' });
    const o = await updateDevice({ device: d.device, lab, to: NEXT_RELEASE, uuid: d.record.uuid, logsDir: join(d.device.paths.dir, 'logs') });
    expectCommitted(o);
    expect(o.download?.source).toBe(lab.deviceConfig.fallbackRegistryEndpoint);
    expect(o.updaterOutput).toMatch(/registry .* failed: .*trying the fallback registry/);
  });

  test('A -> B -> A: a second update goes back to the first partition', async ({ flash }) => {
    const d = await device(flash);
    const first = await updateDevice({ device: d.device, lab, to: NEXT_RELEASE, uuid: d.record.uuid, logsDir: join(d.device.paths.dir, 'logs1') });
    expectCommitted(first);
    expect(first.after.root).toBe('resin-rootB');
    const second = await updateDevice({ device: d.device, lab, to: PATCH_RELEASE, uuid: d.record.uuid, logsDir: join(d.device.paths.dir, 'logs2') });
    expectCommitted(second);
    expect(second.after.root).toBe('resin-rootA');
    expect(second.after.version).toBe(PATCH_RELEASE);
  });

  test('a refused update reports "OS update failed", leaves the device untouched and the application running', async ({ flash }) => {
    const d = await device(flash);
    const o = await updateDevice({ device: d.device, lab, to: BASE_RELEASE, uuid: d.record.uuid, logsDir: join(d.device.paths.dir, 'logs') });
    expect(o.exitCode).toBe(1);
    expect(o.failedStep).toBe('checks');
    expect(o.failure).toMatch(/already runs 2\.101\.0/);
    expect(o.rebooted).toBe(false);
    expect(o.after.root).toBe('resin-rootA');
    expect(o.after.bootEnv).toMatchObject({ resin_root_part: 'A', upgrade_available: '0' });
    expect(o.breadcrumbs).toEqual([]);
    expect(o.progress.at(-1)).toMatchObject({ percent: 100, message: 'OS update failed' });
    const ssh = await d.device.ssh();
    expect((await ssh.execOk('service status demo-app')).trim()).toBe('running');
    expect((await ssh.execOk('service status balena-supervisor')).trim()).toBe('running');
    const log = o.logs.find((l) => l.includes('upgrade-2.x.sh'))!;
    expect((await import('node:fs')).readFileSync(log, 'utf8')).toMatch(/OS update failed: .*already runs 2\.101\.0/);
  });
});
