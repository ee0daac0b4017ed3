import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, realpath, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import type { Profile } from '../../lib/profile.ts';
import { BootPartition } from '../disk/boot-partition.ts';
import type { Variant } from '../../lib/contract/variant.ts';

/** What the lab knows about one device: kept in <lab>/devices/<name>/provision.json. */
export interface DeviceRecord {
  name: string;
  profile: string;
  deviceType: string;
  release: string;
  rootB?: string;
  /** The OS variant flashed (development or production); absent for an adopted disk. */
  variant?: Variant;
  uuid: string;
  disk: string;
  image?: string;
  flashedAt: string;
}

export function deviceDir(lab: string, name: string): string {
  return join(lab, 'devices', name);
}

export interface ConfigJson {
  uuid: string;
  deviceType: string;
  hostname?: string;
  apiEndpoint?: string;
  registryEndpoint?: string;
  deltaEndpoint?: string;
  /** The device's own key for the lab backend (registered by UpdateBackend.newDeviceConfig). */
  deviceApiKey?: string;
  os: { sshKeys: string[] };
  [key: string]: unknown;
}

/**
 * Flashes a device: a sparse copy of the built image becomes its disk, and config.json on its
 * boot partition gets a fresh uuid and the lab's public key (os.sshKeys), as balena's
 * provisioning does. Nothing of an earlier flash survives except what the caller keeps.
 */
export async function flashDevice(opts: {
  lab: string;
  name: string;
  profile: Profile;
  imagePath: string;
  release: string;
  rootB?: string;
  variant?: Variant;
  sshPublicKey: string;
  config?: Partial<ConfigJson>;
  /** The storage's size, MiB, when larger than the image: the rest of it is left empty. */
  storageMiB?: number;
}): Promise<DeviceRecord> {
  const dir = deviceDir(opts.lab, opts.name);
  await mkdir(dir, { recursive: true });
  const disk = join(dir, 'disk.img');
  // A new disk means a new host key on the device: drop every trace of the previous flash. The
  // boot flash and its variables go too: flashing a board (a Jetson in recovery mode) writes its
  // boot firmware as well, so the profile's firmware is copied afresh at the next power-on.
  for (const f of ['disk.img', 'known_hosts', 'serial.log', 'state.log', 'firmware-flash.fd', 'firmware-vars.fd'])
    await rm(join(dir, f), { force: true });
  const tmp = `${disk}.partial`;
  const cp = await execa('cp', ['--sparse=always', '--reflink=auto', opts.imagePath, tmp], { reject: false });
  if (cp.exitCode !== 0) {
    await rm(tmp, { force: true });
    throw new HuplabError('flash-failed', `cannot copy ${opts.imagePath} to ${tmp}: ${cp.stderr.trim()}`, {
      hint: 'check free space in the lab directory',
    });
  }
  if (opts.storageMiB !== undefined && opts.storageMiB * 2 ** 20 > (await stat(tmp)).size)
    await truncate(tmp, opts.storageMiB * 2 ** 20);
  // The backend's newDeviceConfig() assigns the uuid its key is registered for.
  const uuid = opts.config?.uuid ?? randomBytes(16).toString('hex');
  const config: ConfigJson = {
    deviceType: opts.profile.deviceType,
    ...opts.config,
    uuid,
    os: { ...(opts.config?.os ?? {}), sshKeys: [opts.sshPublicKey.trim()] },
  };
  const boot = await BootPartition.open(tmp);
  await boot.write('/config.json', `${JSON.stringify(config, null, 2)}\n`);
  await rename(tmp, disk);
  const record: DeviceRecord = {
    name: opts.name,
    profile: opts.profile.name,
    deviceType: opts.profile.deviceType,
    release: opts.release,
    ...(opts.rootB ? { rootB: opts.rootB } : {}),
    ...(opts.variant ? { variant: opts.variant } : {}),
    uuid,
    disk,
    image: opts.imagePath,
    flashedAt: new Date().toISOString(),
  };
  await writeFile(join(dir, 'provision.json'), `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

/** Adopts an existing disk image file (e.g. one kept by a failed campaign) as a device. */
export async function adoptDisk(opts: {
  lab: string;
  name: string;
  profile: Profile;
  diskFile: string;
  sshPublicKey: string;
  /**
   * This run's backend fields (UpdateBackend.newDeviceConfig): the disk's old key belongs to a
   * backend that is gone, so the adopted device takes the new uuid, key and endpoints.
   */
  config?: Partial<ConfigJson>;
}): Promise<DeviceRecord> {
  if (!existsSync(opts.diskFile))
    throw new HuplabError('disk-missing', `disk image ${opts.diskFile} does not exist`, {
      hint: 'give the path of a kept disk image',
    });
  const dir = deviceDir(opts.lab, opts.name);
  const disk = join(dir, 'disk.img');
  // Copying the device's own disk onto itself would fail half-way, after the folder was reset.
  if (existsSync(disk) && resolve(await realpath(opts.diskFile)) === resolve(await realpath(disk)))
    throw new HuplabError('disk-is-own', `disk image ${opts.diskFile} is the disk of device "${opts.name}" itself`, {
      hint: 'copy it elsewhere first, or boot it under another name',
    });
  await mkdir(dir, { recursive: true });
  await rm(join(dir, 'known_hosts'), { force: true });
  await execa('cp', ['--sparse=always', '--reflink=auto', opts.diskFile, disk]);
  // Keep the disk's config.json (uuid, endpoints) but authorise this lab's key, or the lab could
  // not reach a disk that came from another lab.
  const boot = await BootPartition.open(disk);
  let config: ConfigJson;
  try {
    config = JSON.parse((await boot.read('/config.json')).toString()) as ConfigJson;
  } catch {
    config = { uuid: randomBytes(16).toString('hex'), deviceType: opts.profile.deviceType, os: { sshKeys: [] } };
  }
  const keys = new Set([...(config.os?.sshKeys ?? []), opts.sshPublicKey.trim()]);
  config = { ...config, ...opts.config, os: { ...config.os, sshKeys: [...keys] } };
  await boot.write('/config.json', `${JSON.stringify(config, null, 2)}\n`);
  const uuid = config.uuid;
  const record: DeviceRecord = {
    name: opts.name,
    profile: opts.profile.name,
    deviceType: opts.profile.deviceType,
    release: 'from-disk',
    uuid,
    disk,
    flashedAt: new Date().toISOString(),
  };
  await writeFile(join(dir, 'provision.json'), `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

export async function readDeviceRecord(lab: string, name: string): Promise<DeviceRecord> {
  const file = join(deviceDir(lab, name), 'device.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as DeviceRecord;
  } catch {
    throw new HuplabError('unknown-device-name', `no device named "${name}" in the lab ${lab}`, {
      hint: 'start one with `huplab device start --device generic-amd64 --release <version>`, or list them with `huplab device list`',
    });
  }
}
