import { test as base, expect } from '@playwright/test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLab, type Lab } from '../harness/lab.ts';
import { holdings } from '../harness/holdings.ts';
import { defaultSuiteReleases, suiteReleasesFor } from '../harness/update/suite-releases.ts';
import type { DeviceDriver } from '../harness/driver/driver.ts';
import { inventoryPath, loadInventory, type InventoryBoard } from '../harness/board/inventory.ts';
import { HuplabError } from '../lib/errors.ts';
import type { EmulatedOptions } from '../harness/device/emulated.ts';
import { startDevice } from '../harness/device/start.ts';
import type { StartedDevice } from '../harness/device/boot.ts';
import type { Variant } from '../lib/contract/index.ts';

export interface DeviceOptions {
  /** Device profile of this Playwright project (playwright.config.ts). */
  deviceProfile: string;
  /** Emulated devices (qemu), or the real boards of the lab inventory (HUPLAB_INVENTORY). */
  driver: 'qemu' | 'board';
  /**
   * The OS variant of every device flashed and release published (HUPLAB_VARIANT); undefined:
   * each recipe's own. A test may still ask for a variant of its own.
   */
  osVariant: Variant | undefined;
}

interface WorkerFixtures {
  /** A lab of this worker's own: a fresh SSH key, devices that no other worker touches. */
  lab: Lab;
  /** A device flashed with the base release and booted once per worker; tests may share it. */
  baseDevice: StartedDevice;
}

/** What a test asks of the device it flashes (the profile or board is the project's). */
type FlashOptions = Omit<EmulatedOptions, 'lab' | 'device'>;

interface TestFixtures {
  /**
   * Flash and boot (or only flash, with noBoot) a device for this test alone. On a board project
   * it is this worker's board from the inventory, reflashed for the test.
   */
  flash: (opts: FlashOptions) => Promise<StartedDevice<DeviceDriver>>;
}

/**
 * The releases of this worker's profile (harness/update/suite-releases.ts). A Playwright worker only
 * ever runs tests of one project, so the `_releases` worker fixture sets these once, before any
 * test or other worker fixture uses them; suites read them as ES module live bindings.
 */
export let BASE_RELEASE = defaultSuiteReleases().base;
export let NEXT_RELEASE = defaultSuiteReleases().next;
export let PATCH_RELEASE = defaultSuiteReleases().patch;
/**
 * The suites' releases are pinned, so with time the support policy stops maintaining them (on
 * 2026-12-04 the rolling 2.103.0 supersedes 2.102.x): the suites test the update, not the policy
 * (test/cli-hup-policy.test.ts and test/fleet-api.test.ts do), so what names an OS target through
 * the CLI (`huplab hup`, `huplab fleet os`) passes this.
 */
export const PINNED = ['--allow-unsupported'] as const;

export const test = base.extend<
  TestFixtures & { _attachConsoles: void },
  WorkerFixtures & DeviceOptions & { _releases: void }
>({
  deviceProfile: ['generic-amd64', { option: true, scope: 'worker' }],
  driver: ['qemu', { option: true, scope: 'worker' }],
  osVariant: [undefined, { option: true, scope: 'worker' }],

  _releases: [
    async ({ deviceProfile }, use) => {
      ({ base: BASE_RELEASE, next: NEXT_RELEASE, patch: PATCH_RELEASE } = suiteReleasesFor(deviceProfile));
      await use();
    },
    { scope: 'worker', auto: true },
  ],

  lab: [
    async ({ _releases }, use, workerInfo) => {
      void _releases;
      const dir = mkdtempSync(join(tmpdir(), `huplab-lab-w${workerInfo.workerIndex}-`));
      await use(openLab(dir));
      // Whatever this worker started and nobody stopped (a device whose boot failed before a
      // fixture had it) goes with the lab, so a failing test never leaves a VM behind.
      await holdings.releaseAll();
      if (!process.env.HUPLAB_KEEP_LABS) rmSync(dir, { recursive: true, force: true });
    },
    { scope: 'worker' },
  ],

  baseDevice: [
    async ({ lab, deviceProfile, osVariant, _releases }, use) => {
      void _releases;
      const started = await startDevice({
        lab,
        device: deviceProfile,
        release: BASE_RELEASE,
        name: 'base',
        ...(osVariant ? { variant: osVariant } : {}),
      });
      await use(started);
      // force, not powerCut: a device whose board state machine failed must still be switched off.
      await started.device.force('off').catch(() => {});
      started.device.close();
    },
    { scope: 'worker', timeout: 10 * 60_000 },
  ],

  flash: async ({ lab, deviceProfile, driver, osVariant }, use, testInfo) => {
    const started: Array<StartedDevice<DeviceDriver>> = [];
    await use(async (given) => {
      const opts = osVariant && given.variant === undefined && !given.disk ? { ...given, variant: osVariant } : given;
      // On a board project the factory refuses what only an emulated device can do, with the reason.
      const s =
        driver === 'board'
          ? await startDevice({ lab, ...opts, board: await workerBoard(deviceProfile, testInfo.parallelIndex) })
          : await startDevice({
              lab,
              device: deviceProfile,
              ...opts,
              name: opts.name ?? `t${testInfo.testId.slice(0, 8)}-${started.length}`,
            });
      started.push(s);
      return s;
    });
    for (const s of started) {
      await testInfo
        .attach(`${s.device.name}-serial.log`, { path: s.device.paths.serialLog, contentType: 'text/plain' })
        .catch(() => {});
      await s.device.force('off').catch(() => {});
      await s.device.close();
    }
  },

  // Every test gets the serial log of the shared device attached, whatever the outcome, so a
  // failure can be read from the report alone.
  _attachConsoles: [
    async ({ lab }, use, testInfo) => {
      await use();
      const log = join(lab.dir, 'devices', 'base', 'serial.log');
      try {
        await testInfo.attach('base-serial.log', { body: readFileSync(log), contentType: 'text/plain' });
      } catch {
        /* this test did not use the shared device */
      }
    },
    { auto: true },
  ],
});

/**
 * The board a worker drives: one board per worker, in inventory order, so that no two tests ever
 * share one. (What only an emulated device can do, the device factory refuses with the reason;
 * such tests carry @emulated and board projects skip them.)
 */
async function workerBoard(profile: string, parallelIndex: number): Promise<InventoryBoard> {
  const inv = await loadInventory(inventoryPath());
  const boards = inv.boards.filter((b) => b.profile === profile);
  const board = boards[parallelIndex];
  if (!board)
    throw new HuplabError(
      'no-board-for-worker',
      `worker ${parallelIndex} has no ${profile} board: ${inv.file} has ${boards.length}`,
      { hint: `run with --workers ${Math.max(1, boards.length)} or fewer (HUPLAB_WORKERS)` },
    );
  return board;
}

export { expect };
