import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage, type ImageBuild } from '../../images/builder/index.ts';
import { HuplabError } from '../../lib/errors.ts';
import { loadProfile, type Profile } from '../../lib/profile.ts';
import { lockDeviceName } from './name-lock.ts';
import type { Variant } from '../../lib/contract/variant.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import type { TransitionListener } from '../driver/state.ts';
import type { Lab } from '../lab.ts';
import { QemuDevice } from '../qemu/driver.ts';
import { bootAndTime, type StartedDevice } from './boot.ts';
import { runningVersion } from './inspect.ts';
import { adoptDisk, deviceDir, flashDevice, type ConfigJson, type DeviceRecord } from './provision.ts';

export interface EmulatedOptions {
  lab: Lab;
  device: string;
  release?: string;
  rootB?: string;
  /** The OS variant to build and flash (default: the release recipe's). */
  variant?: Variant;
  /** Boot this disk image file instead of a built release (e.g. one kept by a failed run). */
  disk?: string;
  name?: string;
  sshPort?: number;
  timeoutMs?: number;
  narrator?: Narrator;
  onTransition?: TransitionListener;
  /** Flash, but leave it off (tests that edit the disk before the first boot). */
  noBoot?: boolean;
  /** Extra config.json fields (API, registry and delta endpoints, ...). */
  config?: Partial<ConfigJson>;
  /** Serve the disk through a volatile write cache, so that power cuts lose unflushed writes. */
  volatileCache?: { cacheBytes?: number };
  /**
   * The storage the image is flashed onto, MiB, when it is larger than the image (a board's eMMC
   * or SD card is): the space after the image's last partition is left free, as on a board.
   */
  storageMiB?: number;
}

/**
 * An emulated device: builds (or reuses) the image, flashes a device folder with it, powers it
 * on and waits until the OS answers over SSH. harness/device/start.ts chooses this or a board.
 */
export async function startEmulated(opts: EmulatedOptions): Promise<StartedDevice<QemuDevice>> {
  const narrator = opts.narrator ?? silentNarrator;
  const profile = await loadProfile(opts.device);
  const name = opts.name ?? profile.name;
  validateName(name);
  const dir = deviceDir(opts.lab.dir, name);
  const lock = lockDeviceName(dir, name);
  try {
    return await startLocked(opts, profile, name, dir, narrator);
  } finally {
    lock.release();
  }
}

/** startEmulated once the name is this process's alone. */
async function startLocked(
  opts: EmulatedOptions,
  profile: Profile,
  name: string,
  dir: string,
  narrator: Narrator,
): Promise<StartedDevice<QemuDevice>> {
  if (existsSync(join(dir, 'device.json'))) {
    const running = QemuDevice.attach(dir);
    if (running.isRunning()) {
      throw new HuplabError('device-running', `device "${name}" is already running (pid ${running.pid})`, {
        hint: `stop it with \`huplab device stop --name ${name}\` or pick another --name`,
      });
    }
  }
  let image: ImageBuild | undefined;
  let record: DeviceRecord;
  if (opts.disk) {
    record = await narrator.step(`adopt disk ${opts.disk}`, () =>
      adoptDisk({
        lab: opts.lab.dir,
        name,
        profile,
        diskFile: opts.disk!,
        sshPublicKey: opts.lab.key.publicKey,
        ...(opts.config ? { config: opts.config } : {}),
      }),
    );
  } else {
    if (!opts.release)
      throw new HuplabError('release-required', 'no release given', {
        hint: 'pass --release <version> (see `huplab images list`) or --disk FILE',
      });
    image = await buildImage({
      device: profile.name,
      release: opts.release,
      ...(opts.rootB ? { rootB: opts.rootB } : {}),
      ...(opts.variant ? { variant: opts.variant } : {}),
      narrator,
    });
    record = await narrator.step(`flash ${name} with ${opts.release} (${image.variant})`, () =>
      flashDevice({
        lab: opts.lab.dir,
        name,
        profile,
        imagePath: image!.disk,
        release: opts.release!,
        ...(opts.rootB ? { rootB: opts.rootB } : {}),
        variant: image!.variant,
        sshPublicKey: opts.lab.key.publicKey,
        ...(opts.config ? { config: opts.config } : {}),
        ...(opts.storageMiB ? { storageMiB: opts.storageMiB } : {}),
      }),
    );
  }
  const qemu = profile.qemu;
  if (!qemu) {
    throw new HuplabError('not-emulated', `profile ${profile.name} describes a real board, not an emulated one`, {
      hint: 'real boards are driven through the lab inventory (board driver); pick an emulated profile here',
    });
  }
  const device = new QemuDevice({
    name,
    dir,
    profile: { qemu, console: profile.console },
    diskPath: record.disk,
    labDir: opts.lab.dir,
    sshKeyPath: opts.lab.key.privateKeyPath,
    ...(opts.sshPort ? { sshPort: opts.sshPort } : {}),
    ...(opts.onTransition ? { onTransition: opts.onTransition } : {}),
    ...(opts.volatileCache ? { volatileCache: opts.volatileCache } : {}),
  });
  const timings: Record<string, number> = {};
  if (opts.noBoot) return { device, record, profile, ...(image ? { image } : {}), timings };
  await bootAndTime(device, narrator, opts.timeoutMs, timings);
  return { device, record, profile, ...(image ? { image } : {}), timings };
}

/** A handle on an emulated device of the lab, running or not, by its name. */
export function attachDevice(lab: Lab, name: string): QemuDevice {
  const dir = deviceDir(lab.dir, name);
  if (!existsSync(join(dir, 'device.json'))) {
    throw new HuplabError('unknown-device-name', `no device named "${name}" in the lab ${lab.dir}`, {
      hint: 'see `huplab device list`, or start one with `huplab device start --device generic-amd64 --release 2.101.0`',
    });
  }
  return QemuDevice.attach(dir);
}

/** A device of the lab as `huplab device list` shows it. */
export interface ListedDevice {
  name: string;
  running: boolean;
  sshPort?: number;
  /** The release it runs now, asked over SSH: only for a running device that answered. */
  release?: string;
  /** The release it was flashed with ('from-disk' for an adopted disk). */
  flashed?: string;
}

export async function listDevices(lab: Lab): Promise<ListedDevice[]> {
  const root = join(lab.dir, 'devices');
  if (!existsSync(root)) return [];
  const names = (await readdir(root)).sort();
  // Asked in parallel: a device that does not answer costs its timeout once, not once per device.
  return Promise.all(names.map((name) => listOne(join(root, name), name)));
}

async function listOne(dir: string, name: string): Promise<ListedDevice> {
  let flashed: string | undefined;
  try {
    flashed = (JSON.parse(await readFile(join(dir, 'provision.json'), 'utf8')) as DeviceRecord).release;
  } catch {
    /* never flashed */
  }
  const listed: ListedDevice = { name, running: false, ...(flashed ? { flashed } : {}) };
  if (!existsSync(join(dir, 'device.json'))) return listed;
  const dev = QemuDevice.attach(dir);
  try {
    if (!dev.isRunning()) return listed;
    const release = await runningVersion(dev);
    return {
      ...listed,
      running: true,
      ...(dev.sshPort ? { sshPort: dev.sshPort } : {}),
      ...(release ? { release } : {}),
    };
  } finally {
    dev.close();
  }
}

function validateName(name: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,39}$/.test(name)) {
    throw new HuplabError('bad-device-name', `device name "${name}" is not usable`, {
      hint: 'use letters, digits, ".", "_" or "-", at most 40 characters',
    });
  }
}
