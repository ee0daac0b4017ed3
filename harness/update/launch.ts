/**
 * The one way the host launches an updater on a device: the bundle copied over SSH to where the
 * device runs it from, its command line built from typed options, and the run detached from the
 * SSH session (harness/device/detached-run.ts) as the field runs it.
 */
import { advancedCommand, hupCommand, stepLine, timedDetail, UPDATER_PATHS } from '../../lib/contract/index.ts';
import type { DetachedResult } from '../device/detached-run.ts';
import { runDetached, startDetached } from '../device/detached-run.ts';
import { rebootFromShell } from '../device/shell.ts';
import type { DeviceDriver } from '../driver/driver.ts';

/** An updater run: the standard updater (HUP) or the advanced one (takeover). */
export type UpdaterRun =
  | {
      kind: 'standard';
      to: string;
      /** Stop before the reboot (a fault acts in between; the harness then reboots as the updater would). */
      noReboot?: boolean;
    }
  | { kind: 'advanced'; to: string; deviceType: string };

/** Where each updater's bundle lives on the device (RAM: an update must not leave it on disk). */
const ON_DEVICE: Record<UpdaterRun['kind'], string> = {
  standard: UPDATER_PATHS.hup,
  advanced: UPDATER_PATHS.advanced,
};

/** The device's command line for a run (the contract's, lib/contract/updater-command.ts). */
export function updaterCommand(run: UpdaterRun): string {
  return run.kind === 'advanced'
    ? advancedCommand({ hostosVersion: run.to, deviceType: run.deviceType })
    : hupCommand({ hostosVersion: run.to, noReboot: run.noReboot === true });
}

/** Copies an updater bundle to where `kind` runs from. */
export async function installUpdater(
  device: DeviceDriver,
  bundle: { path: string },
  kind: UpdaterRun['kind'],
): Promise<void> {
  await (await device.ssh()).putFile(bundle.path, ON_DEVICE[kind]);
}

/** Runs the installed updater, detached, and waits for its end (or the reboot that ends it). */
export async function runUpdater(
  device: DeviceDriver,
  run: UpdaterRun,
  opts: { timeoutMs: number; pollMs?: number },
): Promise<DetachedResult> {
  return runDetached(device, updaterCommand(run), opts);
}

/** Starts the installed updater, detached, and returns at once (a power cut is aimed at it). */
export async function startUpdater(device: DeviceDriver, run: UpdaterRun): Promise<void> {
  await startDetached(device, updaterCommand(run));
}

/**
 * After a run with `noReboot` and the fault that acted in its place: the reboot the updater would
 * have made, and its step marker added to the run's output so the run reads as one.
 */
export async function rebootAsTheUpdater(device: DeviceDriver, r: DetachedResult): Promise<void> {
  await rebootFromShell(device);
  r.stdout += `\n${stepLine('reboot', 'done', timedDetail(0, 'rebooted by the harness after the fault'))}\n`;
}
