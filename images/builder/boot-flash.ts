import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import type { BootFlashSpec } from '../../lib/profile.ts';

/** Where an OS keeps the boot flash firmware it needs; read by the advanced update (takeover). */
export const BOOT_FLASH_DIR = 'usr/lib/huplab/firmware';

/** What the OS says about its boot flash firmware (boot-flash.json beside boot-flash.bin). */
export interface BootFlashManifest {
  file: string;
  sha256: string;
  size: number;
  physBase: number;
  bankBytes: number;
  source: string;
}

const PAGE = 4096;

/**
 * Puts the profile's boot flash firmware into the root: the image with its trailing zero padding
 * cut (at a 4 KiB boundary), since firmware volumes such as AAVMF's are padded to the 64 MiB bank
 * and the flash needs only what the firmware holds, and a manifest with its digest.
 */
export async function shipBootFlashFirmware(root: string, spec: BootFlashSpec): Promise<BootFlashManifest> {
  const data = await readFile(spec.firmware).catch((err: unknown) => {
    throw new HuplabError(
      'firmware-missing',
      `boot flash firmware ${spec.firmware} cannot be read: ${(err as Error).message}`,
      {
        hint: `install ${spec.debianPackage} (scripts/bootstrap.sh does) or fix bootFlash.firmware in the profile`,
        infrastructure: true,
      },
    );
  });
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  end = Math.min(data.length, Math.ceil(end / PAGE) * PAGE);
  if (end === 0 || end > spec.bankBytes) {
    throw new HuplabError(
      'profile-invalid',
      `boot flash firmware ${spec.firmware} holds ${end} bytes, which do not fit a ${spec.bankBytes}-byte bank`,
      {
        hint: 'fix bootFlash in the profile',
      },
    );
  }
  const image = data.subarray(0, end);
  const dir = join(root, BOOT_FLASH_DIR);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'boot-flash.bin'), image);
  const manifest: BootFlashManifest = {
    file: `/${BOOT_FLASH_DIR}/boot-flash.bin`,
    sha256: createHash('sha256').update(image).digest('hex'),
    size: image.length,
    physBase: spec.physBase,
    bankBytes: spec.bankBytes,
    source: spec.firmware,
  };
  await writeFile(join(dir, 'boot-flash.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
