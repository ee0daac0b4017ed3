/** Booting a flashed device to SSH, timing each boot stage on its console. */
import type { ImageBuild } from '../../images/builder/index.ts';
import { BOOT_STAGES } from '../../lib/contract/index.ts';
import type { Narrator } from '../../lib/narrator.ts';
import type { Profile } from '../../lib/profile.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import type { DeviceRecord } from './provision.ts';

/** A device flashed with a release (or a kept disk) and, unless asked not to, booted to SSH. */
export interface StartedDevice<D extends DeviceDriver = DeviceDriver> {
  device: D;
  record: DeviceRecord;
  profile: Profile;
  image?: ImageBuild;
  /** Milliseconds from QEMU start: first console byte, bootloader, kernel/initramfs, os ready, SSH. */
  timings: Record<string, number>;
}

/** Powers on and waits for SSH, recording when each boot stage was first seen on the console. */
export async function bootAndTime(
  device: DeviceDriver,
  narrator: Narrator,
  timeoutMs: number | undefined,
  timings: Record<string, number>,
): Promise<void> {
  const since = device.console.mark();
  const t0 = Date.now();
  await narrator.step(`power on ${device.name}`, () => device.powerOn());
  const watch = watchStages(device, since, t0, timings);
  try {
    await narrator.step(`boot ${device.name} to SSH (TCG is slow: 15-60 s)`, () =>
      device.waitForOs({ ...(timeoutMs ? { timeoutMs } : {}), since }),
    );
    timings.sshReady = Date.now() - t0;
  } finally {
    watch.stop();
  }
}

function watchStages(
  device: DeviceDriver,
  since: number,
  t0: number,
  timings: Record<string, number>,
): { stop(): void } {
  const stages: Array<[string, RegExp]> = [
    ['firstSerialByte', /\S/],
    ['bootloader', BOOT_STAGES.bootloader],
    ['initramfs', BOOT_STAGES.initramfs],
    ['osReady', BOOT_STAGES.osReady],
  ];
  const timer = setInterval(() => {
    const text = device.console.text(since);
    for (const [name, re] of stages) if (timings[name] === undefined && re.test(text)) timings[name] = Date.now() - t0;
  }, 50);
  return { stop: () => clearInterval(timer) };
}
