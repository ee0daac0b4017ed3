/**
 * What only some devices can do, as small interfaces a driver offers in its `capabilities`:
 * code that needs one asks for it by name (`capability(device, 'networkLink')`) and gets either
 * the capability or a one-line error saying which device lacks it and how to give it one. Adding a
 * capability: an interface and a description here, an implementation in the drivers that can.
 */
import { HuplabError } from '../../lib/errors.ts';
import type { Profile } from '../../lib/profile.ts';

/** Unplug and replug the device's network (network faults). */
export interface NetworkLink {
  setLink(up: boolean): Promise<void>;
}

/** The board's boot firmware lives in a flash the OS can rewrite (a Jetson's QSPI flash, emulated as writable pflash). */
export interface FirmwareFlash {
  /**
   * The OS has rewritten the boot flash and is about to reboot: the reset that follows must run
   * what the flash holds now. A real board's boot ROM reads the flash at every reset; an emulator
   * may keep the old firmware's translated code across a warm reset (QEMU TCG does: measured, the
   * CPU spins at an exception vector), so its driver starts the machine afresh.
   */
  expectFirmwareReload(): void;
}

/** The board can run another profile's OS line than the one it was started with. */
export interface ProfileChange {
  /**
   * After an advanced update the board runs another profile's OS line (JetPack 4 -> 5, a Pi's
   * 32 -> 64-bit OS): the same hardware, so the driver checks that and carries on with it.
   */
  adoptProfile(profile: Profile): Promise<void>;
}

export interface PowerCutOptions {
  /** What the disk's volatile cache keeps of the unflushed writes: none (default) or a seeded random part. */
  keep?: 'none' | 'random';
  seed?: number;
}
export interface PowerCutResult {
  lostBlocks: number;
  keptBlocks: number;
}

/** A disk with a volatile write cache: a power cut loses the writes the OS never flushed. */
export interface VolatileDisk {
  /** Cuts the power; the cache loses what it was told to, and says how much. */
  powerCut(opts?: PowerCutOptions): Promise<PowerCutResult>;
}

export interface Capabilities {
  networkLink: NetworkLink;
  firmwareFlash: FirmwareFlash;
  profileChange: ProfileChange;
  volatileDisk: VolatileDisk;
}

/** What each capability lets code do, and how a device gets it: the words of the error. */
const ABOUT: Record<keyof Capabilities, { can: string; hint: string }> = {
  networkLink: {
    can: 'unplug its network',
    hint: 'an emulated device can; a board needs network.down and network.up commands in the lab inventory',
  },
  firmwareFlash: {
    can: 'have its boot firmware rewritten by its OS',
    hint: 'use a profile whose board boots from a writable flash',
  },
  profileChange: {
    can: 'run another profile of the same board (an advanced update)',
    hint: 'both profiles must describe the same machine',
  },
  volatileDisk: {
    can: 'lose unflushed writes at a power cut',
    hint: "start it with a volatile disk cache (emulated devices: startDevice's volatileCache)",
  },
};

/** What capability() needs of a device (DeviceDriver has it; named here so this module stays below driver.ts). */
export interface Capable {
  readonly name: string;
  readonly kind: string;
  readonly capabilities: Partial<Capabilities>;
}

export function hasCapability<K extends keyof Capabilities>(device: Capable, name: K): boolean {
  return device.capabilities[name] !== undefined;
}

/** The named capability of the device, or a one-line error naming the device and the fix. */
export function capability<K extends keyof Capabilities>(device: Capable, name: K): Capabilities[K] {
  const c = device.capabilities[name];
  if (c === undefined) {
    throw new HuplabError('capability-missing', `${device.name} (${device.kind}) cannot ${ABOUT[name].can}`, {
      hint: ABOUT[name].hint,
    });
  }
  return c as Capabilities[K];
}
