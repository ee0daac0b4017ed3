/**
 * What the updater needs to know about a device's bootloader to switch roots and count boots.
 * The image builder writes it into the root filesystem (BOOTLOADER_DESCRIPTION_PATH), built from
 * the device profile by bootloaderDescription() (./from-profile.ts), so that the updater on the
 * device needs no profile and no partition-table arithmetic of its own.
 */
import { HuplabError } from '../errors.ts';

export type BootloaderKind = 'grub-efi' | 'u-boot' | 'uefi-launcher';
export const BOOTLOADER_KINDS: readonly BootloaderKind[] = ['grub-efi', 'u-boot', 'uefi-launcher'];

export interface BootloaderDescription {
  /**
   * grub-efi: every variable in one grubenv block (envFile). u-boot: resinOS_uEnv.txt-style text
   * env (envFile) plus a text counter (countFile). uefi-launcher: the same text env plus a counter
   * in grubenv format, the only file GRUB's save_env can rewrite.
   */
  kind: BootloaderKind;
  /** Path on the boot partition, starting with "/", e.g. /EFI/BOOT/grubenv or /resinOS_uEnv.txt. */
  envFile: string;
  /** Path on the boot partition of the boot counter; u-boot and uefi-launcher only. */
  countFile?: string;
  /** Boots of an unconfirmed root before the bootloader falls back. */
  bootCountLimit: number;
  /** Partition numbers (as the kernel and the bootloader number them) of the two roots. */
  rootPartitions: { A: number; B: number };
}

/** Where the image builder puts the description in the root filesystem. */
export const BOOTLOADER_DESCRIPTION_PATH = '/etc/huplab/bootloader.json';

/** What a device whose image has no description runs: the generic-amd64 GRUB set-up. */
export const DEFAULT_BOOTLOADER: Readonly<BootloaderDescription> = Object.freeze({
  kind: 'grub-efi',
  envFile: '/EFI/BOOT/grubenv',
  bootCountLimit: 2,
  rootPartitions: Object.freeze({ A: 2, B: 3 }),
});

const KEYS = ['kind', 'envFile', 'countFile', 'bootCountLimit', 'rootPartitions'];
/** As lib/profile.schema.json: absolute, no whitespace, not a directory. */
const BOOT_PATH = /^\/[^\s]*[^/\s]$/;
/** GPT's usual table has 128 entries; MBR logical partitions number far fewer in practice. */
const MAX_PARTITION = 128;

function invalid(source: string, field: string, problem: string, fix: string): HuplabError {
  return new HuplabError('bootloader-invalid', `${source}: ${field} ${problem}`, { hint: fix });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks parsed JSON and returns a clean copy. `source` names where it came from in the message
 * (the file on the device, or the profile). The first problem found is reported.
 */
export function validateBootloaderDescription(data: unknown, source = 'bootloader description'): BootloaderDescription {
  const FIX = `rebuild the image (the builder writes ${BOOTLOADER_DESCRIPTION_PATH} from the device profile)`;
  if (!isObject(data))
    throw invalid(source, 'the description', `must be a JSON object, not ${JSON.stringify(data)?.slice(0, 40)}`, FIX);
  const extra = Object.keys(data).find((k) => !KEYS.includes(k));
  if (extra !== undefined)
    throw invalid(source, `/${extra}`, 'is not a known field', `remove it; known fields: ${KEYS.join(', ')}`);

  const { kind, envFile, countFile, bootCountLimit, rootPartitions } = data;
  if (!BOOTLOADER_KINDS.includes(kind as BootloaderKind)) {
    throw invalid(source, '/kind', `is ${JSON.stringify(kind)}`, `use one of ${BOOTLOADER_KINDS.join(', ')}`);
  }
  const checkPath = (field: string, v: unknown) => {
    if (typeof v !== 'string' || !BOOT_PATH.test(v)) {
      throw invalid(
        source,
        field,
        `is ${JSON.stringify(v)}, not a file path on the boot partition`,
        'use an absolute path such as /resinOS_uEnv.txt',
      );
    }
  };
  checkPath('/envFile', envFile);
  if (kind === 'grub-efi') {
    if (countFile !== undefined)
      throw invalid(source, '/countFile', 'is set, but grub-efi keeps bootcount in envFile', 'remove countFile');
  } else {
    if (countFile === undefined)
      throw invalid(
        source,
        '/countFile',
        `is missing; ${kind as string} keeps bootcount in its own file`,
        'set it, e.g. "/bootcount.env"',
      );
    checkPath('/countFile', countFile);
    if ((countFile as string).toLowerCase() === (envFile as string).toLowerCase()) {
      // FAT compares names without case: these would be one file.
      throw invalid(
        source,
        '/countFile',
        `is the same file as envFile (${envFile as string})`,
        'use a separate file, e.g. "/bootcount.env"',
      );
    }
  }
  if (!Number.isInteger(bootCountLimit) || (bootCountLimit as number) < 1 || (bootCountLimit as number) > 16) {
    throw invalid(
      source,
      '/bootCountLimit',
      `is ${JSON.stringify(bootCountLimit)}`,
      'use a whole number from 1 to 16 (GRUB: 2, U-Boot os_bc_lim: 3)',
    );
  }
  if (!isObject(rootPartitions)) {
    throw invalid(
      source,
      '/rootPartitions',
      `is ${JSON.stringify(rootPartitions)}`,
      'give the partition numbers of both roots, e.g. {"A": 2, "B": 3}',
    );
  }
  const roots = { A: 0, B: 0 };
  for (const slot of ['A', 'B'] as const) {
    const n = rootPartitions[slot];
    if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > MAX_PARTITION) {
      throw invalid(
        source,
        `/rootPartitions/${slot}`,
        `is ${JSON.stringify(n)}`,
        `use the decimal partition number of resin-root${slot} (1-${MAX_PARTITION})`,
      );
    }
    roots[slot] = n as number;
  }
  const odd = Object.keys(rootPartitions).find((k) => k !== 'A' && k !== 'B');
  if (odd !== undefined)
    throw invalid(source, `/rootPartitions/${odd}`, 'is not a root slot', 'only A and B are allowed');
  if (roots.A === roots.B)
    throw invalid(
      source,
      '/rootPartitions',
      `gives both roots partition ${roots.A}`,
      'resin-rootA and resin-rootB are different partitions',
    );

  const desc: BootloaderDescription = {
    kind: kind as BootloaderKind,
    envFile: envFile as string,
    bootCountLimit: bootCountLimit as number,
    rootPartitions: roots,
  };
  if (countFile !== undefined) desc.countFile = countFile as string;
  return desc;
}

/** Parses and validates the JSON text of a description file. */
export function parseBootloaderDescription(text: string, source = BOOTLOADER_DESCRIPTION_PATH): BootloaderDescription {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new HuplabError('bootloader-invalid', `${source}: invalid JSON: ${(err as Error).message}`, {
      hint: `rebuild the image (the builder writes ${BOOTLOADER_DESCRIPTION_PATH} from the device profile)`,
      cause: err,
    });
  }
  return validateBootloaderDescription(data, source);
}
