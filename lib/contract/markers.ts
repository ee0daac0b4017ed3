import { escapeRegExp } from './regex.ts';

/**
 * Console markers printed by the device's boot chain (bootloader scripts, initramfs, init
 * scripts). The harness's board state machine and the fault injectors key on these exact
 * strings, so they are defined once, here; the on-device shell files cannot import them, and a
 * unit test (test/contract-device-files.test.ts) checks every marker those files print against
 * parseBootMarker.
 */
export const MARKERS = {
  /** Printed by the bootloader script just before it loads the kernel; followed by the root label. */
  bootloaderBooting: '[huplab] bootloader: booting ',
  /** Printed by the initramfs once it has mounted the root; followed by the root label. */
  initramfsRoot: '[huplab] initramfs: root ',
  /** Printed by the init scripts when every service is started (SSH is listening). */
  osReady: '[huplab] os ready',
  /** Printed by the init scripts as the system goes down for reboot or power-off. */
  shuttingDown: '[huplab] shutting down',
} as const;

/** Strings that only firmware prints, used to tell "powered on" from "firmware running". */
export const FIRMWARE_HINTS = ['BdsDxe', 'UEFI', 'U-Boot', 'Welcome to GRUB', 'GNU GRUB'] as const;

const BOOTLOADER = '[huplab] bootloader: ';
const BOOTING = MARKERS.bootloaderBooting.trimEnd();
const INITRAMFS = '[huplab] initramfs: ';

/** The bootloader env as the bootloader prints it before booting (the boot counting's state). */
export interface BootEnvShown {
  resin_root_part: string;
  upgrade_available: string;
  bootcount: string;
}

export function bootloaderEnv(env: BootEnvShown): string {
  return `${BOOTLOADER}env resin_root_part=${env.resin_root_part} upgrade_available=${env.upgrade_available} bootcount=${env.bootcount}`;
}

/** The bootloader boots `root` (a label: resin-rootA). A prefix of it ('resin-root') matches either root. */
export function bootloaderBooting(root: string): string {
  return `${MARKERS.bootloaderBooting}${root}`;
}

/** The bootloader found no root it could boot and resets the board. */
export const BOOTLOADER_GAVE_UP = `${BOOTLOADER}no bootable root; resetting`;

/** The initramfs gives up on the root it was given and reboots, so that boot counting can fall back. */
export function initramfsGaveUp(reason: string): string {
  return `${INITRAMFS}${reason}; rebooting`;
}

/** The initramfs's reason for a root that mounts but has nothing to start (an unbootable new OS). */
export function noInitOn(root: string): string {
  return `no /sbin/init on ${root}`;
}

export function osReady(version: string, root: string): string {
  return `${osReadyVersion(version)} root ${root}`;
}

/** The start of the ready marker of one version, whatever root it runs from. */
export function osReadyVersion(version: string): string {
  return `${MARKERS.osReady}: version ${version}`;
}

/** The bootloader's booting line, whole, with the root it boots. */
export const BOOTLOADER_BOOTING_LINE = new RegExp(`${escapeRegExp(MARKERS.bootloaderBooting)}([^\\n]*)\\n`);

/** The ready marker with the version and root label it names. */
export const OS_READY_LINE = new RegExp(`${escapeRegExp(MARKERS.osReady)}: version (\\S+) root (\\S+)`);

/** The OS is going down or a bootloader is already booting: a reboot is under way or done. */
export const REBOOT_SEEN = new RegExp(`${escapeRegExp(MARKERS.shuttingDown)}|${escapeRegExp(BOOTING)}`);

/** Each stage of one boot, by the marker that ends it (boot timings). */
export const BOOT_STAGES = {
  bootloader: new RegExp(escapeRegExp(BOOTING)),
  initramfs: new RegExp(escapeRegExp(MARKERS.initramfsRoot.trimEnd())),
  osReady: new RegExp(escapeRegExp(MARKERS.osReady)),
} as const;

/** Any device marker line: the boot chain's ([huplab]) and the updater's ([hup] step ...). */
export const MARKER_LINE = /\[(huplab|hup)\] /;

/** How many boots `text` shows (one bootloader marker each). */
export function countBoots(text: string): number {
  return text.match(new RegExp(escapeRegExp(BOOTING), 'g'))?.length ?? 0;
}

/** The first ready marker in `text`: the version and root that came up. */
export function parseOsReady(text: string): { version: string; root: string } | undefined {
  const m = OS_READY_LINE.exec(text);
  return m ? { version: m[1]!, root: m[2]! } : undefined;
}

/**
 * Every line the boot chain may print, by name, with what it carries. Lines that only explain a
 * failure to a human (rcS, os-config) are `diagnostic`: the harness never keys on their words.
 */
const BOOT_MARKER_LINES = {
  bootloaderEnv: /^\[huplab\] bootloader: env resin_root_part=(\S+) upgrade_available=(\S+) bootcount=(\S+)$/,
  bootloaderBooting: /^\[huplab\] bootloader: booting (\S+)$/,
  bootloaderNotBootable: /^\[huplab\] bootloader: (\S+) is not bootable$/,
  bootloaderGaveUp: /^\[huplab\] bootloader: no bootable root; resetting$/,
  initramfsRoot: /^\[huplab\] initramfs: root (\S+) \((\S+)\)$/,
  initramfsModuleFailed: /^\[huplab\] initramfs: module (\S+) failed to load$/,
  initramfsGaveUp: /^\[huplab\] initramfs: (.+); rebooting$/,
  osReady: /^\[huplab\] os ready: version (\S+) root (\S+)$/,
  osNotReady: /^\[huplab\] os not ready: (.+)$/,
  shuttingDown: /^\[huplab\] shutting down$/,
  diagnostic: /^\[huplab\] (rcS|os-config)[: ](.*)$/,
} as const;

export type BootMarkerName = keyof typeof BOOT_MARKER_LINES;

/** Which boot marker a whole line is, and its fields in order; undefined for any other line. */
export function parseBootMarker(line: string): { name: BootMarkerName; fields: string[] } | undefined {
  for (const [name, re] of Object.entries(BOOT_MARKER_LINES) as Array<[BootMarkerName, RegExp]>) {
    const m = re.exec(line);
    if (m) return { name, fields: m.slice(1) };
  }
  return undefined;
}
