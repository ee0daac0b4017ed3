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
export async function populateUBootBoot(
  bootDir: string,
  profile: Profile,
  kernel: KernelTree,
  workDir: string,
  epoch: number,
): Promise<void> {
  const vars = bootTemplateVars(profile);
  const script = fillTemplate(
    await readFile(join(deviceFilesDir, 'boot', 'u-boot', 'boot.cmd'), 'utf8'),
    {
      ...vars,
      FDT_FILE: profile.kernel.dtb ? basename(profile.kernel.dtb) : '',
    },
    'boot.cmd',
  );
  const source = join(workDir, 'boot.cmd');
  await writeFile(source, script);
  // mkimage stamps the header with the time; SOURCE_DATE_EPOCH makes it the release's.
  await execa(
    'mkimage',
    [
      '-A',
      'arm64',
      '-O',
      'linux',
      '-T',
      'script',
      '-C',
      'none',
      '-n',
      'huplab boot script',
      '-d',
      source,
      join(bootDir, 'boot.scr'),
    ],
    {
      env: { SOURCE_DATE_EPOCH: String(epoch) },
    },
  ).catch((err: { stderr?: string }) => {
    throw new HuplabError(
      'u-boot-script-failed',
      `mkimage could not compile the boot script: ${err.stderr?.split('\n')[0] ?? err}`,
      { hint: 'apt-get install u-boot-tools' },
    );
  });
  if (profile.kernel.dtb) {
    const src = join(kernel.dtbDir, profile.kernel.dtb);
    await copyFile(src, join(bootDir, basename(profile.kernel.dtb))).catch(() => {
      throw new HuplabError('kernel-invalid', `kernel ${kernel.release} has no device tree ${profile.kernel.dtb}`, {
        hint: 'fix kernel.dtb in the device profile',
      });
    });
  }
  await writeInitialBootEnv(bootDir, profile);
  if (profile.deviceType.startsWith('raspberrypi')) {
    // Read by the Pi's GPU firmware on a real board (QEMU loads U-Boot itself); kept back by HUP.
    await writeFile(join(bootDir, 'config.txt'), 'arm_64bit=1\nenable_uart=1\nkernel=u-boot.bin\n');
    if (profile.qemu?.firmware) await writePiUBootEnv(bootDir, profile.qemu.firmware.code, workDir);
  }
}

/** CONFIG_ENV_SIZE of Debian's rpi_3 / rpi_arm64 U-Boot, which keeps its env in uboot.env on the boot partition. */
const RPI_ENV_SIZE = '0x4000';

/**
 * U-Boot for the Pi runs `usb start` as its preboot; the DWC2 controller it leaves behind is one
 * Linux's dwc2 driver cannot take over, and the board then has no network. The env U-Boot loads
 * from uboot.env replaces its built-in one, so the built-in env is read out of the binary, the
 * preboot dropped and the boot targets narrowed to the SD card (the others start USB too).
 */
async function writePiUBootEnv(bootDir: string, uboot: string, workDir: string): Promise<void> {
  const env = builtinEnv(
    await readFile(uboot).catch(() => {
      throw new HuplabError('firmware-missing', `cannot read U-Boot ${uboot}`, {
        hint: 'apt-get install u-boot-rpi:arm64 (scripts/bootstrap.sh does)',
      });
    }),
    uboot,
  );
  const lines = env.filter((l) => !l.startsWith('preboot=') && !l.startsWith('boot_targets='));
  lines.push('boot_targets=mmc0');
  const text = join(workDir, 'uboot-env.txt');
  await writeFile(text, `${lines.join('\n')}\n`);
  await execa('mkenvimage', ['-s', RPI_ENV_SIZE, '-o', join(bootDir, 'uboot.env'), text]);
}

/** The built-in default environment of a U-Boot binary: NUL-separated `k=v` from bootcmd= to a double NUL. */
export function builtinEnv(binary: Buffer, name: string): string[] {
  const start = binary.indexOf('\0bootcmd=');
  const end = start < 0 ? -1 : binary.indexOf('\0\0', start + 1);
  if (start < 0 || end < 0)
    throw new HuplabError('firmware-invalid', `no built-in environment found in U-Boot ${name}`, {
      hint: "use Debian's u-boot-rpi package",
    });
  const vars = binary
    .subarray(start + 1, end)
    .toString('latin1')
    .split('\0');
  if (!vars.every((v) => /^[A-Za-z0-9_.]+=/.test(v)))
    throw new HuplabError('firmware-invalid', `the built-in environment of U-Boot ${name} does not parse`, {
      hint: "use Debian's u-boot-rpi package",
    });
  return vars;
}
