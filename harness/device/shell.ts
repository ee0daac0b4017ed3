import { MARKERS } from '../../lib/contract/index.ts';
import { HuplabError } from '../../lib/errors.ts';
import type { DeviceDriver } from '../driver/driver.ts';

/**
 * Small actions on a device's shell and console (a command, a reboot as the OS makes it, the
 * demo application's lock, the shutdown on the console), each waiting for its effect with a named
 * timeout; used by the update runners and by the faults.
 */

export async function sh(device: DeviceDriver, cmd: string): Promise<string> {
  return (await device.ssh()).execOk(cmd);
}

/**
 * Reboots the device from its own shell, as the updater does: the reboot waits a second in the
 * background so that the SSH command returns before the connection dies (a reboot in the
 * foreground leaves the exec hanging until its timeout). Mark the console before calling it.
 */
export async function rebootFromShell(device: DeviceDriver): Promise<void> {
  await (await device.ssh()).exec('sync; (sleep 1; reboot) >/dev/null 2>&1 &');
}

export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 500,
  signal?: AbortSignal,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: string | undefined;
  for (;;) {
    if (signal?.aborted)
      throw new HuplabError(
        'fault-missed',
        `gave up waiting for ${what}: ${(signal.reason as Error)?.message ?? 'aborted'}`,
      );
    // A probe that fails once (an SSH channel refused, an HTTP request reset under load) is asked
    // again: one transient error must not abandon a fault half way, with a lock still held.
    const v = await probe().catch((err: unknown) => {
      lastError = err instanceof HuplabError ? err.oneLine() : String(err);
      return undefined;
    });
    if (v !== undefined) return v;
    if (Date.now() > deadline) {
      throw new HuplabError(
        'fault-timeout',
        `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Asks the demo application to hold (or release) its update lock and waits until it does. */
export async function setAppLock(device: DeviceDriver, mode: 'exclusive' | 'shared' | 'none'): Promise<void> {
  await sh(device, mode === 'none' ? 'rm -f /run/demo-app/lock-request' : `echo ${mode} > /run/demo-app/lock-request`);
  await pollUntil(
    `the demo application to hold lock "${mode}"`,
    async () => {
      const state = (await sh(device, 'cat /run/demo-app/lock-state 2>/dev/null || echo missing')).trim();
      return state === mode ? state : undefined;
    },
    20_000,
    200,
  );
}

/** Seconds from now until the OS starts shutting down for a reboot, as the console shows it. */
export async function secondsUntilShutdown(device: DeviceDriver, since: number, timeoutMs: number): Promise<number> {
  const started = Date.now();
  await device.console.expect(MARKERS.shuttingDown, { since, timeoutMs, what: 'the device to start its reboot' });
  return (Date.now() - started) / 1000;
}

export function shuttingDownSince(device: DeviceDriver, since: number): boolean {
  return device.console.text(since).includes(MARKERS.shuttingDown);
}

/**
 * The partition device of the root the device is not running from, in `$dev`: as the updater
 * finds it (updater/common/partitions.ts), the partition after the running one when that is
 * resin-rootA, else the one before. The spare root's label is not asked: a freshly flashed spare
 * root has no filesystem yet.
 */
export const INACTIVE_ROOT_SH = [
  'cur=$(awk \'$2=="/" && $1 ~ /^\\/dev\\// {print $1}\' /proc/mounts | tail -n1); n=$(echo "$cur" | sed \'s/.*[^0-9]//\'); base=$(echo "$cur" | sed \'s/[0-9]*$//\')',
  'if [ "$cur" = "$(findfs LABEL=resin-rootA)" ]; then dev=$base$((n + 1)); else dev=$base$((n - 1)); fi',
  '[ -b "$dev" ] && [ "$dev" != "$cur" ]',
].join('; ');
