/**
 * Advanced HUP (takeover) on the pairs the standard path cannot join: JetPack 4 -> 5 and a
 * Raspberry Pi 3's 32-bit OS -> the 64-bit one (this file runs on the projects an advanced path
 * leads away from: playwright.config.ts). The device must come back on the new line with what
 * identifies it; interrupted or refused before the flash, it must keep its old OS untouched;
 * interrupted during the flash, there is no way back and the run must say so; and after the
 * takeover a standard update on the new line must work.
 */
import { basename, join } from 'node:path';
import { advancedSuiteFor, type AdvancedSuite } from '../harness/update/suite-releases.ts';
import { advancedUpdateDevice } from '../harness/update/advanced.ts';
import {
  expectAdvancedLeftOld,
  expectAdvancedNoWayBack,
  expectAdvancedSuccess,
} from '../harness/update/advanced-verdict.ts';
import { expectSuccess } from '../harness/update/verdict.ts';
import { expect, test } from './fixtures.ts';
import { startUpdateBackend, type UpdateBackend } from '../harness/backend/update-backend.ts';
import { updateDevice } from '../harness/update/standard.ts';
import type { AdvancedOutcome, Verdict } from '../harness/update/types.ts';

async function attach(o: AdvancedOutcome, v: Verdict): Promise<void> {
  const info = test.info();
  for (const l of o.logs) await info.attach(basename(l), { path: l, contentType: 'text/plain' });
  await info.attach('advanced-outcome.json', {
    body: JSON.stringify({ outcome: { ...o, console: undefined }, verdict: v }, null, 1),
    contentType: 'application/json',
  });
}

test.describe('hup-advanced', () => {
  // Each test takes a device of its own over: they spread over the workers.
  test.describe.configure({ mode: 'parallel' });
  let backend: UpdateBackend | undefined;
  let suite: AdvancedSuite;

  test.beforeAll(async ({ deviceProfile }) => {
    test.setTimeout(15 * 60_000);
    suite = advancedSuiteFor(deviceProfile)!;
    backend = await startUpdateBackend({
      device: deviceProfile,
      releases: [suite.from],
      advanced: { device: suite.target, releases: [suite.to, suite.next], images: [suite.to] },
    });
  });
  test.afterAll(async () => {
    await backend?.services.stop();
  });

  test('takeover onto the new line: new OS, layout and firmware; uuid, SSH host key and network kept; logs in /mnt/data/balenahup; then a standard update on the new line', async ({
    flash,
  }) => {
    test.setTimeout(30 * 60_000);
    const d = await flash({ release: suite.from, config: backend!.newDeviceConfig() });
    const o = await advancedUpdateDevice({
      device: d.device,
      backend: backend!,
      to: suite.to,
      uuid: d.record.uuid,
      logsDir: join(d.device.paths.dir, 'logs'),
    });
    const v = expectAdvancedSuccess(o, backend!.advanced!.profile);
    await attach(o, v);
    expect(
      v.checks.filter((c) => !c.ok),
      o.failure ?? 'takeover',
    ).toEqual([]);

    const std = await updateDevice({
      device: d.device,
      backend: backend!,
      to: suite.next,
      uuid: d.record.uuid,
      logsDir: join(d.device.paths.dir, 'logs-standard'),
    });
    const sv = expectSuccess(std);
    await test.info().attach('standard-after-advanced.json', {
      body: JSON.stringify({ outcome: { ...std, console: undefined }, verdict: sv }, null, 1),
      contentType: 'application/json',
    });
    expect(
      sv.checks.filter((c) => !c.ok),
      `standard ${suite.to} -> ${suite.next} after the takeover`,
    ).toEqual([]);
  });

  test('power cut before the flash (takeover copying the image into RAM): the old OS boots, untouched', async ({
    flash,
  }) => {
    test.setTimeout(20 * 60_000);
    const d = await flash({ release: suite.from, config: backend!.newDeviceConfig() });
    const o = await advancedUpdateDevice({
      device: d.device,
      backend: backend!,
      to: suite.to,
      uuid: d.record.uuid,
      logsDir: join(d.device.paths.dir, 'logs'),
      powerCutAt: 'copy-to-ram',
    });
    const v = expectAdvancedLeftOld(o, { powerCut: 'copy-to-ram' });
    await attach(o, v);
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
  });

  test('power cut during the flash: no way back; no working OS comes up, and the run says the device needs flashing again', async ({
    flash,
  }) => {
    test.setTimeout(25 * 60_000);
    const d = await flash({ release: suite.from, config: backend!.newDeviceConfig() });
    // 10 s into the flash: the new partition table and the first partitions written, the rest not
    // (the flash takes 40 s on the Jetson and over 4 min on the Pi's SD card here).
    const o = await advancedUpdateDevice({
      device: d.device,
      backend: backend!,
      to: suite.to,
      uuid: d.record.uuid,
      logsDir: join(d.device.paths.dir, 'logs'),
      powerCutAt: 'flash',
      powerCutAfterMs: 10_000,
    });
    const v = expectAdvancedNoWayBack(o, 'flash+10s');
    await attach(o, v);
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
  });

  test('a corrupt download is refused before anything is flashed: the old OS keeps running', async ({ flash }) => {
    test.setTimeout(20 * 60_000);
    const d = await flash({ release: suite.from, config: backend!.newDeviceConfig() });
    backend!.services.faults.set('api', { kind: 'corrupt', offset: 1 << 20, path: /\/v1\/os-images\// });
    try {
      const o = await advancedUpdateDevice({
        device: d.device,
        backend: backend!,
        to: suite.to,
        uuid: d.record.uuid,
        logsDir: join(d.device.paths.dir, 'logs'),
      });
      const v = expectAdvancedLeftOld(o, {
        failedStep: 'download',
        reason: /hashes to .* not to the digest asked for/,
      });
      await attach(o, v);
      expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    } finally {
      backend!.services.faults.clear();
    }
  });
});
