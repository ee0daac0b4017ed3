import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import { deviceFilesDir } from '../../lib/paths.ts';
import type { Profile } from '../../lib/profile.ts';
import { bootTemplateVars, fillTemplate, writeInitialBootEnv } from './boot-template.ts';
import type { KernelTree } from './kernel.ts';

/**
 * Fills the boot partition tree for U-Boot (Raspberry Pi, Jetson JetPack 4): the compiled boot
 * script U-Boot's distro boot runs (boot.scr), the env files it reads, and the board's device
 * tree where its firmware expects one. Kernel and initramfs stay on each root partition, so each
 * root boots its own kernel.
 */
export async function populateUBootBoot(bootDir: string, profile: Profile, kernel: KernelTree, workDir: string, epoch: number): Promise<void> {
  const vars = bootTemplateVars(profile);
  const script = fillTemplate(await readFile(join(deviceFilesDir, 'boot', 'u-boot', 'boot.cmd'), 'utf8'), {
    ...vars, FDT_FILE: profile.kernel.dtb ? basename(profile.kernel.dtb) : '',
  }, 'boot.cmd');
  const source = join(workDir, 'boot.cmd');
  await writeFile(source, script);
  // mkimage stamps the header with the time; SOURCE_DATE_EPOCH makes it the release's.
  await execa('mkimage', ['-A', 'arm64', '-O', 'linux', '-T', 'script', '-C', 'none', '-n', 'huplab boot script', '-d', source, join(bootDir, 'boot.scr')], {
    env: { SOURCE_DATE_EPOCH: String(epoch) },
  }).catch((err: { stderr?: string }) => {
    throw new HuplabError('u-boot-script-failed', `mkimage could not compile the boot script: ${err.stderr?.split('\n')[0] ?? err}`, { hint: 'apt-get install u-boot-tools' });
  });
  if (profile.kernel.dtb) {
    const src = join(kernel.dtbDir, profile.kernel.dtb);
    await copyFile(src, join(bootDir, basename(profile.kernel.dtb))).catch(() => {
      throw new HuplabError('kernel-invalid', `kernel ${kernel.release} has no device tree ${profile.kernel.dtb}`, { hint: 'fix kernel.dtb in the device profile' });
    });
  }
  await writeInitialBootEnv(bootDir, profile);
  if (profile.qemu?.machine.startsWith('raspi')) {
    // Read by the Pi's GPU firmware on a real board (QEMU loads U-Boot itself); kept back by HUP.
    await writeFile(join(bootDir, 'config.txt'), 'arm_64bit=1\nenable_uart=1\nkernel=u-boot.bin\n');
  }
}
