import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LEGACY_UPDATE_LOG_DIR, UPDATE_LOG_DIR } from '../../lib/contract/index.ts';
import type { DeviceDriver } from '../driver/driver.ts';

/** The local folder, under the logs folder, for the copies found in the legacy log folder. */
export const LEGACY_LOGS_SUBDIR = 'resinhup';

/**
 * Copies the updater logs into `dir`: those of /mnt/data/balenahup, and those of the field's
 * legacy /mnt/data/resinhup (when the device has it) into `dir`/resinhup, as operators find them.
 */
export async function collectLogs(device: DeviceDriver, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const ssh = await device.ssh();
  const list = (await ssh.exec(`ls ${UPDATE_LOG_DIR}/*.log ${LEGACY_UPDATE_LOG_DIR}/*.log 2>/dev/null`)).stdout
    .trim()
    .split('\n')
    .filter(Boolean);
  const out: string[] = [];
  for (const remote of list) {
    const name = remote.split('/').at(-1)!;
    const local = remote.startsWith(`${LEGACY_UPDATE_LOG_DIR}/`)
      ? join(dir, LEGACY_LOGS_SUBDIR, name)
      : join(dir, name);
    if (local !== join(dir, name)) await mkdir(join(dir, LEGACY_LOGS_SUBDIR), { recursive: true });
    await ssh.getFile(remote, local);
    out.push(local);
  }
  return out;
}
