/**
 * A device saved once and started again many times: booted and prepared (e.g. up to the moment
 * a power-cut point's update begins), then its machine state and disk saved (QemuDevice.saveState);
 * each copy starts from a disk copy of its own and that state, instead of a flash and a cold boot.
 * A copy has its own folder, console log, sockets and forwarded SSH port; it runs the same OS
 * process by process, with the same config.json (uuid and API key) as the saved device.
 */
import { execa } from 'execa';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import type { Lab } from '../lab.ts';
import { QemuDevice, SAVED_DISK } from '../qemu/driver.ts';
import type { StartedDevice } from './boot.ts';
import { deviceDir } from './provision.ts';

export interface SavedDevice {
  /** The folder saveState wrote: machine state, disk, firmware flash. */
  dir: string;
  from: StartedDevice<QemuDevice>;
}

/** Saves a running emulated device into `dir`; the device is off afterwards. */
export async function saveDevice(d: StartedDevice, dir: string): Promise<SavedDevice> {
  if (!(d.device instanceof QemuDevice))
    throw new HuplabError('emulated-only', `${d.device.name} is a real board: only an emulated device can be saved`, {
      hint: 'run the campaign without --from-saved on boards',
    });
  await mkdir(dir, { recursive: true });
  await d.device.saveState(dir);
  return { dir, from: d as StartedDevice<QemuDevice> };
}

/** A copy of a saved device, running and answering SSH, under a name of its own. */
export async function restoreDevice(lab: Lab, saved: SavedDevice, name: string): Promise<StartedDevice<QemuDevice>> {
  const dir = deviceDir(lab.dir, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const disk = join(dir, 'disk.img');
  const t0 = Date.now();
  await execa('cp', ['--reflink=auto', '--sparse=always', join(saved.dir, SAVED_DISK), disk]);
  const src = saved.from.device;
  const device = new QemuDevice({
    name,
    dir,
    profile: src.profileOfBoard,
    diskPath: disk,
    labDir: lab.dir,
    sshKeyPath: lab.key.privateKeyPath,
    ...(src.accel ? { accel: src.accel } : {}),
    volatileCache: {},
    incoming: saved.dir,
  });
  await device.powerOn();
  await device.waitForRestore();
  return {
    device,
    record: { ...saved.from.record, name, disk },
    profile: saved.from.profile,
    timings: { sshReady: Date.now() - t0 },
  };
}
