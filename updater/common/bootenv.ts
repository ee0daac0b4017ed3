/**
 * The bootloader env on the device's boot partition, for every bootloader kind. Which files and
 * formats come from the description the image carries (/etc/huplab/bootloader.json, written by
 * the image builder from the device profile); the mapping itself is lib/bootenv/. The running
 * OS's description is used for every write, including the switch to the new OS: a device type
 * keeps its bootloader across releases.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  BOOTLOADER_DESCRIPTION_PATH,
  DEFAULT_BOOTLOADER,
  bootEnvWriteOrder,
  decodeBootEnv,
  encodeBootEnv,
  mergeBootEnv,
  parseBootloaderDescription,
  type BootEnvFileRole,
  type BootEnvFiles,
  type BootloaderDescription,
  type LogicalBootEnv,
} from '../../lib/bootenv/index.ts';
import { HuplabError, isHuplabError } from '../../lib/errors.ts';
import { atomicWriteFile, repairInterrupted } from '../../lib/fat/atomic-write.ts';

/** The bootloader's A/B variables (logical: resin_root_part is the slot letter on every kind). */
export type BootEnv = LogicalBootEnv;

export const BOOT_DIR = '/mnt/boot';

export interface BootEnvOptions {
  /** Where the boot partition is mounted; /mnt/boot by default. */
  bootDir?: string;
  /** The bootloader; by default loaded from descriptionPath. */
  description?: BootloaderDescription;
  /** /etc/huplab/bootloader.json by default. */
  descriptionPath?: string;
  /** Tests only: replaces atomicWriteFile, e.g. to look at the files between the two writes. */
  write?: (path: string, data: Buffer) => Promise<void>;
}

/** The device's bootloader; an image without a description is a generic-amd64 GRUB one. */
export function loadBootloaderDescription(path = BOOTLOADER_DESCRIPTION_PATH): BootloaderDescription {
  if (!existsSync(path)) return structuredClone(DEFAULT_BOOTLOADER) as BootloaderDescription;
  return parseBootloaderDescription(readFileSync(path, 'utf8'), path);
}

/** The description and the absolute paths of its files, resolved once per operation. */
export interface BootEnvTarget {
  desc: BootloaderDescription;
  env: string;
  count?: string;
  write: (path: string, data: Buffer) => Promise<void>;
}

export function bootEnvTarget(opts: BootEnvOptions = {}): BootEnvTarget {
  const desc = opts.description ?? loadBootloaderDescription(opts.descriptionPath);
  const dir = opts.bootDir ?? BOOT_DIR;
  const target: BootEnvTarget = {
    desc,
    env: join(dir, desc.envFile),
    write: opts.write ?? ((p, d) => atomicWriteFile(p, d)),
  };
  if (desc.countFile !== undefined) target.count = join(dir, desc.countFile);
  return target;
}

/** The files' bytes; a missing count file is `count: undefined`, a missing env file an error. */
export function readBootEnvFiles(t: BootEnvTarget): BootEnvFiles {
  if (!existsSync(t.env))
    throw new HuplabError('bootenv-missing', `${t.env} does not exist`, {
      hint: 'the boot partition is damaged; re-flash or repair it',
    });
  const files: BootEnvFiles = { env: readFileSync(t.env) };
  if (t.count !== undefined && existsSync(t.count)) files.count = readFileSync(t.count);
  return files;
}

/**
 * Drops the interrupted writes of the env files that a power cut left: the bootloader chose this
 * boot with the files in place, so those are the ones to change (see repairInterrupted).
 */
export async function dropInterruptedBootEnvWrites(t: BootEnvTarget): Promise<void> {
  for (const path of [t.env, t.count]) {
    if (path !== undefined)
      await repairInterrupted(dirname(path), { only: basename(path), keepInPlace: [basename(path)] });
  }
}

/** Writes the files in the given order, each atomically (order: see bootEnvWriteOrder). */
export async function writeBootEnvFiles(
  t: BootEnvTarget,
  files: Partial<BootEnvFiles>,
  order: BootEnvFileRole[],
): Promise<void> {
  for (const role of order) {
    const path = role === 'env' ? t.env : t.count;
    const data = files[role];
    if (path !== undefined && data !== undefined) await t.write(path, data);
  }
}

export function readBootEnv(opts: BootEnvOptions = {}): BootEnv {
  const t = bootEnvTarget(opts);
  return decodeBootEnv(t.desc, readBootEnvFiles(t));
}

/**
 * Changes some variables, keeping the others (a variable set to undefined is removed), with an
 * atomic write of each file on the FAT partition.
 *
 * Write order, for power cuts (u-boot and uefi-launcher have two files; the env file is the
 * single switch, the counter only counts while upgrade_available=1):
 * - switching roots or setting upgrade_available=1: the count file (bootcount=0) first, the env
 *   file last. A cut in between leaves the old env with a zeroed counter, harmless.
 * - clearing upgrade_available (commit, rollback): the env file first, the count file after. A
 *   cut in between leaves nothing pending, and a stale counter is then never read.
 * The count file is always rewritten, never deleted: the JetPack 5 launcher (GRUB) can rewrite
 * it but not create it, and a missing one is created here in the right format.
 */
export async function updateBootEnv(vars: BootEnv, opts: BootEnvOptions = {}): Promise<BootEnv> {
  const t = bootEnvTarget(opts);
  await dropInterruptedBootEnvWrites(t);
  let files = readBootEnvFiles(t);
  let previous: BootEnv;
  try {
    previous = decodeBootEnv(t.desc, files);
  } catch (err) {
    // A garbled counter is replaced outright when this write sets bootcount anyway: a commit or a
    // rollback must not fail over the one value it is about to overwrite.
    if (!isHuplabError(err, 'bootenv-count-invalid') || vars.bootcount === undefined) throw err;
    files = { env: files.env };
    previous = decodeBootEnv(t.desc, files);
  }
  const next = mergeBootEnv(previous, vars);
  await writeBootEnvFiles(t, encodeBootEnv(t.desc, next, files), bootEnvWriteOrder(t.desc, previous, next));
  return next;
}
