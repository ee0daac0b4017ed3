/**
 * The part of a device profile (lib/profile.ts) that the QEMU driver reads. Firmware fields that
 * the profile loader fills with defaults are optional here, so that tests can describe a
 * minimal machine without going through the loader.
 */
import type { ConsoleSpec, QemuFirmware as ProfileFirmware, QemuSpec } from '../../lib/profile.ts';

export type QemuFirmware = Omit<ProfileFirmware, 'loadAs' | 'writableFlash' | 'debianPackage'> &
  Partial<Pick<ProfileFirmware, 'loadAs' | 'writableFlash' | 'debianPackage'>>;

export type QemuProfileQemu = Omit<QemuSpec, 'firmware'> & { firmware?: QemuFirmware };

export interface QemuProfile {
  qemu: QemuProfileQemu;
  console: Pick<ConsoleSpec, 'device'>;
}
