import { randomBytes } from 'node:crypto';
import { STATE_FILES, statePath } from '../../lib/contract/index.ts';
import { HuplabError } from '../../lib/errors.ts';
import type { ExecResult } from '../ssh/client.ts';
import type { DeviceDriver } from '../driver/driver.ts';

/**
 * Runs a command on the device detached from the SSH session that starts it, as the field runs
 * its updater: a dropped link (or a harness that goes away) must not hang up on an update half
 * done. Output and exit status go to the state partition (not /mnt/data, which a fault may have
 * filled; not /run, which the update's reboot empties), and are polled over SSH, reconnecting as
 * often as it takes.
 *
 * A command that reboots the device (the updater does, 2 s after its last step) can be stopped
 * by that reboot before its wrapper records the exit status. The boot id tells that apart from a
 * command still running: once the device has booted again with no status recorded, the run is
 * over, and its output (a clean reboot keeps it) is returned with `endedByReboot`.
 */
const DIR = statePath(STATE_FILES.detachedRuns);
const BOOT_ID = '/proc/sys/kernel/random/boot_id';

export interface DetachedRun {
  base: string;
  cmd: string;
  bootId: string;
}
export interface DetachedResult extends ExecResult {
  /** The device rebooted before the exit status was recorded; `code` is then null. */
  endedByReboot: boolean;
}

/** Starts `cmd` on the device, detached; returns at once. */
export async function startDetached(device: DeviceDriver, cmd: string): Promise<DetachedRun> {
  const base = `${DIR}/${Date.now()}-${randomBytes(3).toString('hex')}`;
  // The exit status is written to a temporary name and renamed, so a poll never reads half of it.
  // The command runs in a subshell so that all of a compound command's output is kept.
  const script = `(${cmd}) > ${base}.out 2> ${base}.err; echo $? > ${base}.exit.tmp; sync; mv ${base}.exit.tmp ${base}.exit; sync`;
  const bootId = await (await device.ssh()).execOk(
    `mkdir -p ${DIR} && setsid sh -c '${script.replace(/'/g, `'\\''`)}' < /dev/null > /dev/null 2>&1 & cat ${BOOT_ID}`,
  );
  return { base, cmd, bootId: bootId.trim() };
}

/** Waits for a detached command to end, asking over SSH as often as it takes. */
export async function waitDetached(
  device: DeviceDriver,
  run: DetachedRun,
  opts: { timeoutMs: number; pollMs?: number },
): Promise<DetachedResult> {
  const { base, cmd } = run;
  const deadline = Date.now() + opts.timeoutMs;
  let lastError = '';
  for (;;) {
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 1_000));
    try {
      const r = await (await device.ssh()).exec(`cat ${BOOT_ID}; cat ${base}.exit 2>/dev/null`, {
        timeoutMs: 10_000,
        connectTimeoutMs: 10_000,
      });
      const [bootId = '', code = ''] = r.stdout
        .trim()
        .split('\n')
        .map((l) => l.trim());
      const rebooted = bootId !== '' && bootId !== run.bootId;
      if (code !== '' || rebooted) {
        const read = async (f: string) =>
          (await (await device.ssh()).exec(`cat ${base}.${f} 2>/dev/null`, { timeoutMs: 30_000 })).stdout;
        const result: DetachedResult = {
          code: code !== '' ? Number(code) : null,
          stdout: await read('out'),
          stderr: await read('err'),
          endedByReboot: code === '',
        };
        await (await device.ssh()).exec(`rm -f ${base}.*`).catch(() => undefined);
        return result;
      }
    } catch (err) {
      // The link is down or the device is rebooting: drop the connection and ask again later.
      lastError = (err as Error).message;
      (await device.ssh()).close();
    }
    if (Date.now() > deadline) {
      throw new HuplabError(
        'detached-timeout',
        `${cmd} did not finish in ${Math.round(opts.timeoutMs / 1000)} s${lastError ? ` (last SSH error: ${lastError})` : ''}`,
        { hint: `see ${device.paths.serialLog}` },
      );
    }
  }
}

export async function runDetached(
  device: DeviceDriver,
  cmd: string,
  opts: { timeoutMs: number; pollMs?: number },
): Promise<DetachedResult> {
  return waitDetached(device, await startDetached(device, cmd), opts);
}
