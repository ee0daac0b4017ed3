import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeviceDriver } from '../driver/driver.ts';

/** Copies the updater logs of /mnt/data/balenahup into `dir`. */
export async function collectLogs(device: DeviceDriver, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const ssh = await device.ssh();
  const list = (await ssh.exec('ls /mnt/data/balenahup/*.log 2>/dev/null')).stdout.trim().split('\n').filter(Boolean);
  const out: string[] = [];
  for (const remote of list) {
    const local = join(dir, remote.split('/').at(-1)!);
    await ssh.getFile(remote, local);
    out.push(local);
  }
  return out;
}
