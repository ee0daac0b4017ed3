/**
 * A device saved once and started again many times: booted and prepared (e.g. up to the moment
 * a power-cut point's update begins), then its machine state and disk saved (QemuDevice.saveState);
 * each copy starts from a disk copy of its own and that state, instead of a flash and a cold boot.
 * A copy has its own folder, console log, sockets and forwarded SSH port; it runs the same OS
 * process by process as the saved device. Given an identity, it takes it into its config.json
 * before anything else runs on it, so copies running side by side report to the API as the
 * different devices they are (their progress histories would mix under the saved device's uuid).
 */
import { execa } from 'execa';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import { CONFIG_JSON } from '../../updater/common/config.ts';
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

/** A device's identity at the API: config.json's uuid and device API key. */
export interface DeviceIdentity {
  uuid: string;
  deviceApiKey: string;
}

/** A copy of a saved device, running and answering SSH, under a name (and identity) of its own. */
export async function restoreDevice(
  lab: Lab,
  saved: SavedDevice,
  name: string,
  identity?: DeviceIdentity,
): Promise<StartedDevice<QemuDevice>> {
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
  if (identity) await takeIdentity(device, identity);
  return {
    device,
    record: { ...saved.from.record, name, disk, ...(identity ? { uuid: identity.uuid } : {}) },
    profile: saved.from.profile,
    timings: { sshReady: Date.now() - t0 },
  };
}

/**
 * Writes `identity` into the copy's config.json (the rest kept), flushed: what reads it from now
 * on (the updater, the services after a cut) sees the copy's own uuid and key.
 */
async function takeIdentity(device: QemuDevice, identity: DeviceIdentity): Promise<void> {
  const ssh = await device.ssh();
  const config = JSON.parse(await ssh.execOk(`cat ${CONFIG_JSON}`)) as Record<string, unknown>;
  const tmp = `${CONFIG_JSON}.new`;
  await ssh.putFile(
    Buffer.from(
      `${JSON.stringify({ ...config, uuid: identity.uuid, deviceApiKey: identity.deviceApiKey }, null, 2)}\n`,
    ),
    tmp,
    { mode: 0o600 },
  );
  await ssh.execOk(`mv ${tmp} ${CONFIG_JSON} && sync`);
}
