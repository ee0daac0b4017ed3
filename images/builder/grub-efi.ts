import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import { encodeGrubenv } from '../../lib/grubenv.ts';
import { deviceFilesDir } from '../../lib/paths.ts';
import type { Profile } from '../../lib/profile.ts';

const GRUB_MODULES = ['part_gpt', 'part_msdos', 'fat', 'ext2', 'search', 'search_label', 'loadenv', 'test', 'echo',
  'linux', 'normal', 'configfile', 'sleep', 'reboot', 'serial', 'terminal', 'efi_gop', 'all_video'];

const GRUB_TARGET: Record<string, { format: string; file: string; dir: string }> = {
  amd64: { format: 'x86_64-efi', file: 'BOOTX64.EFI', dir: '/usr/lib/grub/x86_64-efi' },
};

/** The initial boot env of a fresh device: root A, no update pending. */
export const INITIAL_GRUBENV = { resin_root_part: 'A', upgrade_available: '0', bootcount: '0' };

/**
 * Fills the boot partition tree for GRUB EFI: a standalone GRUB at the removable-media path
 * (OVMF finds it with no NVRAM entry), the boot logic in /EFI/BOOT/grub.cfg and the grubenv.
 */
export async function populateGrubEfiBoot(bootDir: string, profile: Profile, workDir: string): Promise<void> {
  const target = GRUB_TARGET[profile.arch];
  if (!target) throw new HuplabError('profile-invalid', `GRUB EFI is not supported for arch ${profile.arch}`, { hint: 'use a u-boot profile' });
  const efiDir = join(bootDir, 'EFI', 'BOOT');
  await mkdir(efiDir, { recursive: true });
  // grub-mkimage with an embedded early config (no memdisk): unlike grub-mkstandalone, whose
  // memdisk tar carries the build time, its output depends on the inputs only.
  await execa('grub-mkimage', [
    '-O', target.format, '-d', target.dir, '-p', '/EFI/BOOT',
    '-c', join(deviceFilesDir, 'boot', 'grub-efi', 'embedded.cfg'),
    '-o', join(efiDir, target.file), ...GRUB_MODULES,
  ], { cwd: workDir }).catch((err: { stderr?: string }) => {
    throw new HuplabError('grub-failed', `grub-mkimage failed: ${err.stderr?.split('\n')[0] ?? err}`, {
      hint: 'apt-get install grub-efi-amd64-bin grub-common',
    });
  });
  const cfg = (await readFile(join(deviceFilesDir, 'boot', 'grub-efi', 'grub.cfg'), 'utf8')).replaceAll('@@CMDLINE@@', profile.kernel.cmdline);
  await writeFile(join(efiDir, 'grub.cfg'), cfg);
  await writeFile(join(efiDir, 'grubenv'), encodeGrubenv(INITIAL_GRUBENV));
}
