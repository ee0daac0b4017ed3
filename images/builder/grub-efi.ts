import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import { deviceFilesDir } from '../../lib/paths.ts';
import type { Profile } from '../../lib/profile.ts';
import { bootTemplateVars, fillTemplate, writeInitialBootEnv } from './boot-template.ts';
import { rootLabels } from '../../lib/partition/resin-1x.ts';

const GRUB_MODULES = [
  'part_gpt',
  'part_msdos',
  'fat',
  'ext2',
  'search',
  'search_label',
  'loadenv',
  'test',
  'echo',
  'linux',
  'normal',
  'configfile',
  'sleep',
  'reboot',
  'serial',
  'terminal',
  'efi_gop',
  'all_video',
];

const GRUB_TARGET: Record<string, { format: string; file: string; dir: string; package: string }> = {
  amd64: { format: 'x86_64-efi', file: 'BOOTX64.EFI', dir: '/usr/lib/grub/x86_64-efi', package: 'grub-efi-amd64-bin' },
  arm64: {
    format: 'arm64-efi',
    file: 'BOOTAA64.EFI',
    dir: '/usr/lib/grub/arm64-efi',
    package: 'grub-efi-arm64-bin:arm64',
  },
};

/**
 * Fills the boot partition tree with a standalone GRUB at the removable-media path (the UEFI
 * firmware finds it with no NVRAM entry) whose embedded config hands over to the boot logic on
 * the partition, and that logic's env files:
 * - grub-efi (generic-amd64): /EFI/BOOT/grub.cfg and the grubenv;
 * - uefi-launcher (Jetson JetPack 5): /EFI/BOOT/launcher.cfg, which honours resinOS_uEnv.txt and
 *   bootcount.env as the U-Boot boards do.
 */
export async function populateGrubEfiBoot(bootDir: string, profile: Profile, workDir: string): Promise<void> {
  const target = GRUB_TARGET[profile.arch];
  if (!target)
    throw new HuplabError('profile-invalid', `GRUB EFI is not supported for arch ${profile.arch}`, {
      hint: 'use a u-boot profile',
    });
  const flavour = profile.bootloader.kind === 'uefi-launcher' ? 'uefi-launcher' : 'grub-efi';
  const templates = join(deviceFilesDir, 'boot', flavour);
  const efiDir = join(bootDir, 'EFI', 'BOOT');
  await mkdir(efiDir, { recursive: true });
  // grub-mkimage with an embedded early config (no memdisk): unlike grub-mkstandalone, whose
  // memdisk tar carries the build time, its output depends on the inputs only.
  await execa(
    'grub-mkimage',
    [
      '-O',
      target.format,
      '-d',
      target.dir,
      '-p',
      '/EFI/BOOT',
      '-c',
      join(templates, 'embedded.cfg'),
      '-o',
      join(efiDir, target.file),
      ...GRUB_MODULES,
    ],
    { cwd: workDir },
  ).catch((err: { stderr?: string }) => {
    throw new HuplabError('grub-failed', `grub-mkimage failed: ${err.stderr?.split('\n')[0] ?? err}`, {
      hint: `apt-get install ${target.package} grub-common`,
    });
  });
  if (flavour === 'grub-efi') {
    const labels = rootLabels(profile.layout);
    const cfg = fillTemplate(
      await readFile(join(templates, 'grub.cfg'), 'utf8'),
      { CMDLINE: profile.kernel.cmdline, ROOT_A_LABEL: labels.A, ROOT_B_LABEL: labels.B },
      'grub.cfg',
    );
    await writeFile(join(efiDir, 'grub.cfg'), cfg);
  } else {
    const cfg = fillTemplate(
      await readFile(join(templates, 'launcher.cfg'), 'utf8'),
      {
        ...bootTemplateVars(profile),
        COUNT_STEPS: countSteps(profile.bootloader.bootCountLimit),
      },
      'launcher.cfg',
    );
    await writeFile(join(efiDir, 'launcher.cfg'), cfg);
  }
  await writeInitialBootEnv(bootDir, profile);
}

/**
 * GRUB script has no arithmetic: one `elif` per count, 0 -> 1 ... limit -> limit + 1, and
 * bc_over=1 once the count is above the limit (or is anything else, such as a garbled value).
 */
export function countSteps(limit: number): string {
  const lines: string[] = [];
  for (let i = 0; i <= limit; i++) {
    lines.push(`\t${i === 0 ? 'if' : 'elif'} [ "\${bootcount}" = "${i}" ]; then`);
    lines.push(`\t\tset bootcount=${i + 1}${i + 1 > limit ? '; set bc_over=1' : ''}`);
  }
  lines.push('\telse', '\t\tset bc_over=1', '\tfi');
  return lines.join('\n');
}
