/**
 * Following a device through an update's reboot until it settles: rollback-health committed, or a
 * rollback brought the old OS back. Also what the device needs before an update is judged
 * (shortened rollback-health timings, the application writing).
 */
import {
  REBOOT_SEEN,
  ROLLBACK_RECORDS,
  STATE_DIR,
  STATE_FILES,
  statePath,
  stepRe,
  UPDATE_STATE_FILES,
  updateState,
} from '../../lib/contract/index.ts';
import { HuplabError } from '../../lib/errors.ts';
import type { DeviceDriver } from '../driver/driver.ts';

/** Shortened rollback-health timings for the lab (the field default is 60 s + 15 x 60 s). */
export const LAB_ROLLBACK_TIMINGS = { initialDelaySec: 5, intervalSec: 5, attempts: 6 };

/** rollback-health's or rollback-altboot's last marker when it is about to reboot: "...; rebooting". */
const REBOOT_ANNOUNCED = stepRe({ stepPattern: 'rollback-[\\w-]+', phase: 'failed', after: ' [^\\n]*rebooting' });

/**
 * Follows the device until no rollback breadcrumb is left (rollback-health committed, or a
 * rollback brought the old OS back), following every reboot on the way. True when it committed.
 */
export async function followUntilSettled(device: DeviceDriver, deadline: number, what: string): Promise<boolean> {
  let seen = device.console.mark();
  for (;;) {
    // A rollback reboots the device again: follow that boot before looking at the state.
    if (REBOOT_SEEN.test(device.console.text(seen))) {
      await device.waitForOs({ since: seen, timeoutMs: 240_000 });
      seen = device.console.mark();
    }
    const files = await stateFiles(device).catch(() => undefined);
    if (files && !updateState(files).pending) {
      const committed = !files.some((f) => (ROLLBACK_RECORDS as readonly string[]).includes(f));
      // A rollback reboots once it has cleared its breadcrumbs: let that reboot happen and follow
      // it (the top of the loop), or whoever uses the device next meets it going down. (It used
      // to return at once when the shutdown was already on the console: seen on jetson-xavier-jp4,
      // whose rollback-health reboots sooner after clearing than GRUB's timing had shown.)
      const rebooting = () => REBOOT_SEEN.test(device.console.text(seen));
      // rollback-health announces its reboot in its last marker ("...; rebooting"); the shutdown
      // can come many seconds later on a slow board (raspberrypi3 under load: over 5 s, and the
      // logs were then read from a data partition being unmounted).
      const announced = () => REBOOT_ANNOUNCED.test(device.console.text(seen));
      if (!committed) {
        const quietUntil = Date.now() + 5_000;
        while (!rebooting() && (Date.now() < quietUntil || (announced() && Date.now() < deadline))) {
          await new Promise((res) => setTimeout(res, 1_000));
        }
        if (rebooting()) continue;
        if (announced())
          throw new HuplabError('commit-timeout', `${what}: rollback-health announced a reboot that did not come`, {
            hint: `see ${device.paths.serialLog}`,
          });
      }
      return committed;
    }
    if (Date.now() > deadline)
      throw new HuplabError('commit-timeout', `${what} neither committed nor rolled back in time`, {
        hint: `see ${device.paths.serialLog}`,
      });
    await new Promise((res) => setTimeout(res, 3_000));
  }
}

export async function stateFiles(device: DeviceDriver): Promise<string[]> {
  const ssh = await device.ssh();
  const r = await ssh.exec(`cd ${STATE_DIR} && ls ${UPDATE_STATE_FILES.join(' ')} 2>/dev/null`);
  return r.stdout.trim().split('\n').filter(Boolean);
}

/**
 * Gets a running device ready for an update: rollback-health's timings for the lab, and the
 * application writing, so that continuity up to the reboot and the downtime are measured on a
 * running application, not one that is still starting.
 */
export async function readyForUpdate(device: DeviceDriver, timings = LAB_ROLLBACK_TIMINGS): Promise<void> {
  const ssh = await device.ssh();
  await ssh.execOk(`printf '%s' '${JSON.stringify(timings)}' > ${statePath(STATE_FILES.healthTimings)} && sync`);
  const appDeadline = Date.now() + 90_000;
  while (
    Number((await ssh.exec('wc -l < /mnt/data/demo-app/records.log 2>/dev/null || echo 0')).stdout.trim() || 0) < 3
  ) {
    if (Date.now() > appDeadline)
      throw new HuplabError(
        'app-not-running',
        'the demo application wrote fewer than 3 records in 90 s before the update',
        { hint: `see ${device.paths.serialLog}` },
      );
    await new Promise((res) => setTimeout(res, 1_000));
  }
}
