import { HuplabError } from '../errors.ts';

/**
 * How the harness (the backend, in the field) runs an updater on the device: the bundle copied
 * to a fixed path and run with the device's Node runtime, with the flags the updaters parse
 * (updater/hup/args.ts, updater/advanced/args.ts).
 */
export const DEVICE_NODE = '/usr/bin/node';

/** Where each updater bundle is put on the device. */
export const UPDATER_PATHS = { hup: '/tmp/hup.mjs', advanced: '/tmp/hup-advanced.mjs' } as const;

/** The standard updater's log file on the data partition, named as in the field: `upgrade-2.x.sh.<YYYYmmdd_HHMMSS>.log`. */
export const STANDARD_LOG_PREFIX = 'upgrade-2.x.sh';
export const STANDARD_LOG_NAME_RE = /^upgrade-2\.x\.sh\.\d{8}_\d{6}\.log$/;

export const UPDATER_FLAGS = {
  hostosVersion: '--hostos-version',
  noReboot: '--no-reboot',
  allowDowngrade: '--allow-downgrade',
  deviceType: '--device-type',
} as const;

export interface HupOptions {
  hostosVersion: string;
  /** Stop before the reboot (a fault then acts, and the harness reboots). */
  noReboot?: boolean;
  allowDowngrade?: boolean;
}

export interface AdvancedOptions {
  hostosVersion: string;
  /** The target device type when the update changes it (a Pi 3 onto the 64-bit OS). */
  deviceType?: string;
}

/** The values go into a shell command line unquoted: versions and device type slugs need no quoting. */
function word(value: string, what: string): string {
  if (!/^[A-Za-z0-9._+-]+$/.test(value))
    throw new HuplabError('usage', `${what} "${value}" is not a version or a device type slug`);
  return value;
}

/** The standard updater's command line: `/usr/bin/node /tmp/hup.mjs --hostos-version X [--no-reboot]`. */
export function hupCommand(o: HupOptions): string {
  return [
    DEVICE_NODE,
    UPDATER_PATHS.hup,
    UPDATER_FLAGS.hostosVersion,
    word(o.hostosVersion, UPDATER_FLAGS.hostosVersion),
    ...(o.noReboot ? [UPDATER_FLAGS.noReboot] : []),
    ...(o.allowDowngrade ? [UPDATER_FLAGS.allowDowngrade] : []),
  ].join(' ');
}

/** The advanced updater's command line: `/usr/bin/node /tmp/hup-advanced.mjs --hostos-version X [--device-type T]`. */
export function advancedCommand(o: AdvancedOptions): string {
  return [
    DEVICE_NODE,
    UPDATER_PATHS.advanced,
    UPDATER_FLAGS.hostosVersion,
    word(o.hostosVersion, UPDATER_FLAGS.hostosVersion),
    ...(o.deviceType !== undefined ? [UPDATER_FLAGS.deviceType, word(o.deviceType, UPDATER_FLAGS.deviceType)] : []),
  ].join(' ');
}
