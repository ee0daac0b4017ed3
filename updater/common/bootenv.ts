import { existsSync, readFileSync } from 'node:fs';
import { HuplabError } from '../../lib/errors.ts';
import { atomicWriteFile, repairInterrupted } from '../../lib/fat/atomic-write.ts';
import { basename, dirname } from 'node:path';
import { decodeGrubenv, encodeGrubenv } from '../../lib/grubenv.ts';

/** The bootloader's A/B variables, wherever this device type keeps them. */
export interface BootEnv {
  resin_root_part?: string;
  upgrade_available?: string;
  bootcount?: string;
  [key: string]: string | undefined;
}

export const GRUBENV = '/mnt/boot/EFI/BOOT/grubenv';

export function readBootEnv(path = GRUBENV): BootEnv {
  if (!existsSync(path)) throw new HuplabError('bootenv-missing', `${path} does not exist`, { hint: 'the boot partition is damaged; re-flash or repair it' });
  return decodeGrubenv(readFileSync(path));
}

/** Changes some variables, keeping the others, with an atomic write on the FAT partition. */
export async function updateBootEnv(vars: BootEnv, path = GRUBENV): Promise<BootEnv> {
  // A write of the env that a power cut interrupted is dropped, not finished: the bootloader
  // chose this boot with the env in place, so that is the env to change.
  await repairInterrupted(dirname(path), { only: basename(path), keepInPlace: [basename(path)] });
  const next: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...readBootEnv(path), ...vars })) if (v !== undefined) next[k] = v;
  await atomicWriteFile(path, encodeGrubenv(next));
  return next;
}
