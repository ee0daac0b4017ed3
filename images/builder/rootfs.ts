import { chmod, cp, mkdir, readFile, readdir, rm, symlink, writeFile, lstat, readlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { createHash } from 'node:crypto';
import { COPY_IF_ABSENT, KEPT_BACK } from '../../lib/boot-files.ts';
import { BOOTLOADER_DESCRIPTION_PATH, bootloaderDescription } from '../../lib/bootenv/index.ts';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import { deviceFilesDir } from '../../lib/paths.ts';
import type { Profile } from '../../lib/profile.ts';
import type { ReleaseRecipe } from '../recipe.ts';
import { shipBootFlashFirmware } from './boot-flash.ts';
import { VARIANT_OS_RELEASE } from '../../lib/contract/variant.ts';
import { dropbearDefaults, shadowFor, VARIANT_FILES } from './variant.ts';

/** What goes into /etc/os-release and the machine-readable release file the updater reads. */
export function osRelease(recipe: ReleaseRecipe, profile: Profile): string {
  return [
    'ID="balena-os"',
    'NAME="balenaOS"',
    `VERSION="${recipe.version}"`,
    `VERSION_ID="${recipe.version}"`,
    `PRETTY_NAME="balenaOS ${recipe.version} (huplab)"`,
    `MACHINE="${profile.deviceType}"`,
    `VARIANT="${VARIANT_OS_RELEASE[recipe.variant].VARIANT}"`,
    `VARIANT_ID="${VARIANT_OS_RELEASE[recipe.variant].VARIANT_ID}"`,
    `META_BALENA_VERSION="${recipe.version}"`,
    `BALENA_BOARD_REV="huplab"`,
    `HUPLAB_LAYOUT="${recipe.layout}"`,
    '',
  ].join('\n');
}

const PRUNE = [
  'usr/share/doc',
  'usr/share/man',
  'usr/share/info',
  'usr/share/locale',
  'usr/share/lintian',
  'usr/share/bug',
  'usr/share/gdb',
];

/**
 * Assembles the root filesystem tree: Debian packages unpacked, the Node.js runtime, busybox
 * applets, the on-device files from images/device-files/rootfs, and the release's own files.
 */
export async function assembleRootfs(opts: {
  root: string;
  recipe: ReleaseRecipe;
  profile: Profile;
  /** Debian packages to unpack; with `paths`, only those files of the package. */
  debs: Array<{ path: string; paths?: string[] }>;
  nodeTarball: string;
  /** The boot partition tree this OS ships; kept in the root so that an update can install it. */
  bootDir: string;
  busyboxApplets: string[];
  kernelImage: string;
  initramfs: string;
}): Promise<void> {
  const { root, recipe, profile } = opts;
  await mkdir(root, { recursive: true });
  for (const deb of opts.debs) {
    if (!deb.paths) {
      await execa('dpkg-deb', ['-x', deb.path, root]);
      continue;
    }
    const part = join(root, '.deb-partial');
    await execa('dpkg-deb', ['-x', deb.path, part]);
    for (const p of deb.paths) {
      if (!existsSync(join(part, p)))
        throw new HuplabError('release-invalid', `${deb.path} has no ${p}`, {
          hint: 'fix the paths of this package in the release recipe',
        });
      await mkdir(dirname(join(root, p)), { recursive: true });
      await cp(join(part, p), join(root, p), { verbatimSymlinks: true });
    }
    await rm(part, { recursive: true });
  }
  for (const p of PRUNE) await rm(join(root, p), { recursive: true, force: true });
  for (const gconv of [
    'usr/lib/x86_64-linux-gnu/gconv',
    'usr/lib/aarch64-linux-gnu/gconv',
    'usr/lib/arm-linux-gnueabihf/gconv',
  ]) {
    await rm(join(root, gconv), { recursive: true, force: true });
  }

  // Node.js: the npm package carries the official binary as package/bin/node.
  const nodeDir = join(root, '.node-unpack');
  await mkdir(nodeDir);
  await execa('tar', ['-xzf', opts.nodeTarball, '-C', nodeDir, 'package/bin/node']);
  await mkdir(join(root, 'usr', 'bin'), { recursive: true });
  await cp(join(nodeDir, 'package', 'bin', 'node'), join(root, 'usr', 'bin', 'node'));
  await chmod(join(root, 'usr', 'bin', 'node'), 0o755);
  await rm(nodeDir, { recursive: true });

  // busybox applets as symlinks, never replacing a real program from a package.
  for (const applet of opts.busyboxApplets) {
    const target = join(root, applet);
    if (existsSync(target) || applet === 'bin/busybox') continue;
    await mkdir(dirname(target), { recursive: true });
    await symlink('/bin/busybox', target);
  }

  await cp(join(deviceFilesDir, 'rootfs'), root, { recursive: true, verbatimSymlinks: true });
  // The variant: console login, root's password, SSH's password policy (variant.ts).
  await renderTemplate(join(root, 'etc', 'inittab'), {
    CONSOLE_LOGIN: VARIANT_FILES[recipe.variant].consoleLine(profile.console.device, profile.console.baud),
  });
  const shadow = join(root, 'etc', 'shadow');
  await writeFile(shadow, shadowFor(recipe.variant, await readFile(shadow, 'utf8')));
  await chmod(shadow, 0o600);
  await mkdir(join(root, 'etc', 'default'), { recursive: true });
  await writeFile(join(root, 'etc', 'default', 'dropbear'), dropbearDefaults(recipe.variant));

  for (const d of [
    'proc',
    'sys',
    'dev',
    'run',
    'tmp',
    'mnt/boot',
    'mnt/state',
    'mnt/data',
    'var/volatile',
    'home/root',
    'boot',
  ]) {
    await mkdir(join(root, d), { recursive: true });
  }
  await replaceWithSymlink(join(root, 'var', 'run'), '/run');
  await replaceWithSymlink(join(root, 'var', 'lock'), '/run/lock');
  await replaceWithSymlink(join(root, 'var', 'log'), '/var/volatile/log');
  await replaceWithSymlink(join(root, 'var', 'tmp'), '/tmp');

  await writeFile(join(root, 'etc', 'os-release'), osRelease(recipe, profile));
  await mkdir(join(root, 'etc', 'balena-supervisor'), { recursive: true });
  await writeFile(
    join(root, 'etc', 'balena-supervisor', 'supervisor.conf'),
    `SUPERVISOR_IMAGE=balena/${profile.arch}-supervisor\nSUPERVISOR_VERSION=${recipe.supervisorVersion}\n`,
  );
  // How this device type's bootloader keeps its A/B env: the updater reads it (updater/common/bootenv.ts).
  await mkdir(join(root, 'etc', 'huplab'), { recursive: true });
  await writeFile(
    join(root, BOOTLOADER_DESCRIPTION_PATH),
    `${JSON.stringify(bootloaderDescription(profile), null, 2)}\n`,
  );
  await writeFile(
    join(root, 'etc', 'huplab-release.json'),
    `${JSON.stringify(
      {
        version: recipe.version,
        supervisorVersion: recipe.supervisorVersion,
        layout: recipe.layout,
        variant: recipe.variant,
        deviceType: profile.deviceType,
        arch: profile.arch,
      },
      null,
      2,
    )}\n`,
  );
  // The boot flash firmware this OS line needs (JetPack 5's QSPI), for the advanced update to write.
  if (profile.bootFlash) await shipBootFlashFirmware(root, profile.bootFlash);
  for (const [path, content] of Object.entries(recipe.files)) {
    const target = join(root, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
  }

  await cp(opts.bootDir, join(root, 'usr', 'share', 'huplab', 'boot-files'), { recursive: true });
  await writeFile(join(root, 'usr', 'share', 'huplab', 'boot-files.sha256'), await bootFilesManifest(opts.bootDir));
  await bundleDeviceServices(root);
  await cp(opts.kernelImage, join(root, 'boot', 'vmlinuz'));
  await cp(opts.initramfs, join(root, 'boot', 'initrd.img'));
  await checkSharedLibraries(root);
}

/**
 * `sha256sum -c` input for the boot files this OS owns (the kept-back and copy-if-absent ones are
 * the device's): at every boot the OS checks the boot partition against it, cheaply, in shell,
 * and repairs a partition an interrupted update left with another OS's files.
 */
export async function bootFilesManifest(bootDir: string): Promise<string> {
  const owned = (await readdir(bootDir, { recursive: true, withFileTypes: true }))
    .filter((d) => d.isFile())
    .map((d) => `/${relative(bootDir, join(d.parentPath, d.name))}`)
    .filter((p) => !KEPT_BACK.includes(p) && !COPY_IF_ABSENT.includes(p))
    .sort();
  const lines: string[] = [];
  for (const p of owned)
    lines.push(
      `${createHash('sha256')
        .update(await readFile(join(bootDir, p)))
        .digest('hex')}  .${p}`,
    );
  return `${lines.join('\n')}\n`;
}

/**
 * The updater's on-device services (supervisor agent, rollback-altboot, rollback-health) are
 * TypeScript in updater/; each is bundled into one self-contained ES module for the device's Node.
 */
export const DEVICE_SERVICES: Record<string, string> = {
  'usr/lib/huplab/supervisor.mjs': 'updater/supervisor/main.ts',
  'usr/lib/huplab/hup/rollback-altboot.mjs': 'updater/services/rollback-altboot.ts',
  'usr/lib/huplab/hup/rollback-health.mjs': 'updater/services/rollback-health.ts',
  'usr/lib/huplab/hup/report-pending.mjs': 'updater/services/report-pending.ts',
};

async function bundleDeviceServices(root: string): Promise<void> {
  const { bundleForDevice } = await import('../../updater/bundle.ts');
  for (const [dest, src] of Object.entries(DEVICE_SERVICES)) await bundleForDevice(src, join(root, dest));
}

async function replaceWithSymlink(path: string, target: string): Promise<void> {
  try {
    const st = await lstat(path);
    if (st.isSymbolicLink() && (await readlink(path)) === target) return;
    await rm(path, { recursive: true, force: true });
  } catch {
    await mkdir(dirname(path), { recursive: true });
  }
  await symlink(target, path);
}

async function renderTemplate(path: string, vars: Record<string, string>): Promise<void> {
  let text = await readFile(path, 'utf8');
  for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`@@${k}@@`, v);
  if (/@@[A-Z_]+@@/.test(text))
    throw new HuplabError('template-invalid', `${path}: unfilled template variable ${/@@[A-Z_]+@@/.exec(text)![0]}`);
  await writeFile(path, text);
}

/**
 * Every program in the image must find its shared libraries inside the image; a missing one
 * would only show as a service that never starts on the device, so it fails the build here.
 */
export async function checkSharedLibraries(root: string): Promise<void> {
  const libDirs = ['lib', 'usr/lib', 'lib64'];
  const available = new Set<string>();
  for (const d of libDirs) {
    if (!existsSync(join(root, d))) continue;
    for (const entry of await readdir(join(root, d), { recursive: true })) available.add(entry.split('/').at(-1)!);
  }
  const missing: string[] = [];
  // Programs and the libraries themselves: a library's own dependencies (libtomcrypt needs
  // libgmp) fail the same way at run time.
  for (const binDir of ['bin', 'sbin', 'usr/bin', 'usr/sbin', ...libDirs]) {
    if (!existsSync(join(root, binDir))) continue;
    const entries = libDirs.includes(binDir)
      ? (await readdir(join(root, binDir), { recursive: true })).filter((e) => /\.so(\.\d+)*$/.test(e))
      : await readdir(join(root, binDir));
    for (const name of entries) {
      const file = join(root, binDir, name);
      if ((await lstat(file)).isSymbolicLink()) continue;
      const { stdout, exitCode } = await execa('readelf', ['-d', file], { reject: false });
      if (exitCode !== 0) continue; // a script, not an ELF program
      for (const m of stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)) {
        if (!available.has(m[1]!)) missing.push(`${binDir}/${name} needs ${m[1]}`);
      }
    }
  }
  if (missing.length) {
    throw new HuplabError(
      'rootfs-missing-library',
      `the root filesystem lacks shared libraries: ${missing.join('; ')}`,
      {
        hint: 'add the Debian package that ships them to debianPackages in the release recipe',
      },
    );
  }
}
