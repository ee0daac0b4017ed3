/**
 * The resinOS 1.x -> 1.x update on a real guest, end to end through the lab backend: the device
 * boots the new release from the other root (resin-updt, then back onto resin-root with a second
 * update), its root as fingerprinted, the kept files kept, the log in /mnt/data/resinhup, the
 * field's progress at the API; and the `root-modified` fault refused by name with the boot
 * partition, the spare root, resin-conf and the partition table byte for byte as they were.
 * Runs on the 1.x profiles (their Playwright projects run suites/onex-*.spec.ts).
 */
import { join } from 'node:path';
import { startUpdateBackend, type UpdateBackend } from '../harness/backend/update-backend.ts';
import { findOnexFault, onexFaultExpectation, onexFaultRun } from '../harness/faults/onex.ts';
import { updateOnexDevice, type OnexUpdateOutcome } from '../harness/update/onex-update.ts';
import { expectOnexRefused, expectOnexSuccess } from '../harness/update/onex-verdict.ts';
import type { Verdict } from '../harness/update/types.ts';
import type { StartedDevice } from '../harness/device/boot.ts';
import type { DeviceDriver } from '../harness/driver/driver.ts';
import { ONEX_KEPT_PATHS, ONEX_LOG, ONEX_PROGRESS, ONEX_REFUSALS, ONEX_START } from '../lib/contract/onex.ts';
import { SUPERVISOR_CHOICE } from '../lib/contract/supervisor.ts';
import { BASE_RELEASE, NEXT_RELEASE, PATCH_RELEASE, expect, test } from './fixtures.ts';

/** The verdict's failed checks, as the message of a failed expectation. */
const failedChecks = (v: Verdict) =>
  v.checks
    .filter((c) => !c.ok)
    .map((c) => `${c.what}: ${c.detail}`)
    .join('\n');

type Flash = (o: { release: string; config: object }) => Promise<StartedDevice<DeviceDriver>>;

async function attach(name: string, o: OnexUpdateOutcome, v: Verdict): Promise<void> {
  await test
    .info()
    .attach(name, { body: JSON.stringify({ outcome: o, verdict: v }, null, 1), contentType: 'application/json' });
  await test.info().attach(`${name}-run-resinhup.sh.log`, { path: o.logCopy, contentType: 'text/plain' });
}

test.describe('resinOS 1.x -> 1.x update', { tag: '@emulated' }, () => {
  let backend: UpdateBackend | undefined;
  test.beforeAll(async ({ deviceProfile }) => {
    test.setTimeout(10 * 60_000);
    backend = await startUpdateBackend({
      device: deviceProfile,
      releases: [BASE_RELEASE, NEXT_RELEASE, PATCH_RELEASE],
      deltas: false,
    });
  });
  test.afterAll(async () => {
    await backend?.services.stop();
  });

  /**
   * A fresh device on `from` (with what a field device has and the image does not make: systemd's
   * machine id, ConnMan's state) updated to `to`: onto resin-updt, everything the verdict checks,
   * the kept files, the agent's choice naming the new supervisor, the boot partition's old text
   * files kept beside the new ones.
   */
  async function freshUpdate(flash: Flash, from: string, to: string) {
    const d = await flash({ release: from, config: backend!.newDeviceConfig() });
    const ssh = await d.device.ssh();
    await ssh.execOk(
      'head -c 16 /dev/urandom | md5sum | cut -c1-32 > /etc/machine-id && mkdir -p /var/lib/connman && printf "[global]\\nOfflineMode=false\\n" > /var/lib/connman/settings && sync',
    );
    const o = await updateOnexDevice({
      device: d.device,
      backend: backend!,
      to,
      uuid: d.record.uuid,
      logsDir: join(d.device.paths.dir, 'logs'),
    });
    const v = expectOnexSuccess(o);
    await attach('update', o, v);
    expect(v.ok, failedChecks(v)).toBe(true);
    expect(o.before.cmdlineRoot).toBe('resin-root');
    expect(o.after.cmdlineRoot).toBe('resin-updt');
    expect(o.after.version).toBe(to);
    // The three kept as they were, and the agent's choice the update wrote for the new supervisor.
    expect(Object.keys(o.after.kept).sort()).toEqual(
      ONEX_KEPT_PATHS.filter((k) => k !== '/etc/supervisor.conf').sort(),
    );
    expect(o.after.supervisorChoice).toBe(o.targetSupervisor);
    expect(o.progress.map((p) => `${p.percent} ${p.message}`)).toContain(
      `${ONEX_PROGRESS.done.percent} ${ONEX_PROGRESS.done.message}`,
    );
    // The boot partition's changed text files kept as the field kept them.
    expect(await ssh.execOk('ls /mnt/boot/os-release.hup.old && cat /mnt/boot/os-release')).toContain(to);
    return { d, o };
  }

  test('updates onto resin-updt: new release booted, fingerprint, kept files, log, progress', async ({ flash }) => {
    // A full download (no delta on 1.x) on a Raspberry Pi 3 under TCG: about 10 min of it.
    test.setTimeout(45 * 60_000);
    await freshUpdate(flash, NEXT_RELEASE, PATCH_RELEASE);
  });

  test('updated twice: the second update goes from resin-updt back onto resin-root', async ({ flash }) => {
    test.setTimeout(80 * 60_000);
    const { d, o: first } = await freshUpdate(flash, BASE_RELEASE, NEXT_RELEASE);
    const second = await updateOnexDevice({
      device: d.device,
      backend: backend!,
      to: PATCH_RELEASE,
      uuid: d.record.uuid,
      logsDir: join(d.device.paths.dir, 'logs2'),
    });
    const v2 = expectOnexSuccess(second);
    await attach('second-update', second, v2);
    expect(v2.ok, failedChecks(v2)).toBe(true);
    expect(second.before.cmdlineRoot).toBe('resin-updt');
    expect(second.after.cmdlineRoot).toBe('resin-root');
    expect(second.after.version).toBe(PATCH_RELEASE);
    // The supervisor moves on again; everything else kept across both updates.
    const { [SUPERVISOR_CHOICE]: choice, ...keptAfter } = second.after.kept;
    expect(keptAfter).toEqual(first.before.kept);
    expect(choice).toBeTruthy();
    expect(second.after.supervisorChoice).toBe(second.targetSupervisor);
    // Both runs in the one log, as the field's wrapper appended them.
    expect((await (await d.device.ssh()).execOk(`grep -c "${ONEX_START}" ${ONEX_LOG}`)).trim()).toBe('2');
  });

  test('root-modified: refused by name before anything is written; boot, spare root, resin-conf and table unchanged', async ({
    flash,
  }) => {
    test.setTimeout(20 * 60_000);
    const fault = findOnexFault('root-modified')!;
    const d = await flash({ release: NEXT_RELEASE, config: backend!.newDeviceConfig() });
    const o = await updateOnexDevice({
      device: d.device,
      backend: backend!,
      to: PATCH_RELEASE,
      uuid: d.record.uuid,
      logsDir: join(d.device.paths.dir, 'logs'),
      fault: onexFaultRun(fault),
    });
    const v = expectOnexRefused(o, onexFaultExpectation(fault));
    await attach('root-modified', o, v);
    expect(v.ok, failedChecks(v)).toBe(true);
    expect(o.refused?.code).toBe(ONEX_REFUSALS.rootModified);
    expect(o.fingerprintFailures).toEqual(['/etc/profile']);
    // Every partition the update writes was read and compared, none of them empty.
    expect(Object.keys(o.partitions!.before).sort()).toEqual(['ebr', 'p1', 'p3', 'p5', 'table']);
    for (const [k, md5] of Object.entries(o.partitions!.before)) {
      expect(md5, k).toMatch(/^[0-9a-f]{32}$/);
      expect(md5, k).not.toBe('d41d8cd98f00b204e9800998ecf8427e');
      expect(o.partitions!.after[k], k).toBe(md5);
    }
    // No tool step past the fingerprint check ran.
    expect(o.steps.map((s) => s.step)).not.toContain('fetch');
    expect(o.failedStep).toBe('fingerprint');
  });
});
