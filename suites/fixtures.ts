import { test as base, expect } from '@playwright/test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLab, type Lab } from '../harness/lab.ts';
import { SUITE_RELEASES } from '../harness/hup/suite-releases.ts';
import { startDevice, type StartOptions, type StartedDevice } from '../harness/device/session.ts';

export interface DeviceOptions {
  /** Device profile of this Playwright project (playwright.config.ts). */
  deviceProfile: string;
}

interface WorkerFixtures {
  /** A lab of this worker's own: a fresh SSH key, devices that no other worker touches. */
  lab: Lab;
  /** A device flashed with the base release and booted once per worker; tests may share it. */
  baseDevice: StartedDevice;
}

interface TestFixtures {
  /** Flash and boot (or only flash, with noBoot) a device for this test alone. */
  flash: (opts: Omit<StartOptions, 'lab' | 'device'>) => Promise<StartedDevice>;
}

export const BASE_RELEASE = SUITE_RELEASES.base;
export const NEXT_RELEASE = SUITE_RELEASES.next;

export const test = base.extend<TestFixtures & { _attachConsoles: void }, WorkerFixtures & DeviceOptions>({
  deviceProfile: ['generic-amd64', { option: true, scope: 'worker' }],

  lab: [async ({}, use, workerInfo) => {
    const dir = mkdtempSync(join(tmpdir(), `huplab-lab-w${workerInfo.workerIndex}-`));
    await use(openLab(dir));
    if (!process.env.HUPLAB_KEEP_LABS) rmSync(dir, { recursive: true, force: true });
  }, { scope: 'worker' }],

  baseDevice: [async ({ lab, deviceProfile }, use) => {
    const started = await startDevice({ lab, device: deviceProfile, release: BASE_RELEASE, name: 'base' });
    await use(started);
    // force, not powerCut: a device whose board state machine failed must still be switched off.
    await started.device.force('off').catch(() => {});
    started.device.close();
  }, { scope: 'worker', timeout: 10 * 60_000 }],

  flash: async ({ lab, deviceProfile }, use, testInfo) => {
    const started: StartedDevice[] = [];
    await use(async (opts) => {
      const name = opts.name ?? `t${testInfo.testId.slice(0, 8)}-${started.length}`;
      const s = await startDevice({ lab, device: deviceProfile, ...opts, name });
      started.push(s);
      return s;
    });
    for (const s of started) {
      await testInfo.attach(`${s.device.name}-serial.log`, { path: s.device.paths.serialLog, contentType: 'text/plain' }).catch(() => {});
      await s.device.force('off').catch(() => {});
      s.device.close();
    }
  },

  // Every test gets the serial log of the shared device attached, whatever the outcome, so a
  // failure can be read from the report alone.
  _attachConsoles: [async ({ lab }, use, testInfo) => {
    await use();
    const log = join(lab.dir, 'devices', 'base', 'serial.log');
    try {
      await testInfo.attach('base-serial.log', { body: readFileSync(log), contentType: 'text/plain' });
    } catch { /* this test did not use the shared device */ }
  }, { auto: true }],
});

export { expect };
