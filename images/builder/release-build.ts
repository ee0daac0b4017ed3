import { FINGERPRINT_FILES, fingerprintTree, formatFingerprint } from '../../lib/fingerprint.ts';
import { LAYOUT_1X } from '../../lib/partition/resin-1x.ts';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import { cacheDir } from '../../lib/paths.ts';
import type { Profile } from '../../lib/profile.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { packageName, packageSpec, type ReleaseRecipe } from '../recipe.ts';
import type { Variant } from '../../lib/contract/variant.ts';
import {
  fetchPackage,
  hostArch,
  resolveKernelPackage,
  resolvePackage,
  resolvePackages,
  type DebianPackage,
} from './apt.ts';
import { publish } from './cache-entry.ts';
import { releaseKey, sourceDigest, toolVersions } from './cache-key.ts';
import { checkEntry, recordEntry, reuse } from './cache-verify.ts';
import { populateGrubEfiBoot } from './grub-efi.ts';
import { populateUBootBoot } from './u-boot.ts';
import { buildHostapp, type HostappArtifact } from './hostapp.ts';
import { buildInitramfs } from './initramfs.ts';
import { findKernel } from './kernel.ts';
import { fetchNpmTarball } from './npm-blob.ts';
import { normaliseTimes } from './reproducible.ts';
import { assembleRootfs } from './rootfs.ts';

/** Node.js's names for the Debian architectures (npm packages node-linux-<name>). */
const NODE_ARCH: Record<string, string> = { amd64: 'x64', arm64: 'arm64', armhf: 'armv7l' };

/** One release built for one device type: the pieces every disk image of it is made from. */
export interface ReleaseBuild {
  key: string;
  dir: string;
  version: string;
  /** The variant built (the recipe's, or the one the build asked for: withVariant). */
  variant: Variant;
  deviceType: string;
  rootfsDir: string;
  bootDir: string;
  hostapp: HostappArtifact;
  packages: DebianPackage[];
  cached: boolean;
}

/**
 * Builds the release's root filesystem tree, boot files and hostapp for one device type, in the
 * recipe's variant (pass `withVariant(recipe, v)` for another one: the key covers the recipe).
 */
export async function buildRelease(
  profile: Profile,
  recipe: ReleaseRecipe,
  narrator: Narrator = silentNarrator,
): Promise<ReleaseBuild> {
  const arch = profile.arch;
  const packages = await narrator.step(`resolve Debian packages for ${recipe.version} (${arch})`, async () => {
    const list = await resolvePackages(recipe.debianPackages.map(packageSpec), arch, narrator);
    // The kernel may be of another architecture than the userland (a 32-bit Pi OS on the 64-bit board kernel).
    list.push(await resolveKernelPackage(profile.kernel.debianPackage, profile.kernel.arch ?? arch, narrator));
    return list;
  });
  const integrity = recipe.node.integrity[arch];
  if (!integrity) {
    throw new HuplabError('release-invalid', `release ${recipe.version} pins no Node.js runtime for ${arch}`, {
      hint: `add node.integrity.${arch} to images/releases/${recipe.version}.json`,
    });
  }
  const key = releaseKey({
    recipe,
    profile,
    packages,
    node: integrity,
    source: await sourceDigest(),
    tools: await toolVersions(),
  });
  const dir = join(cacheDir(), 'releases', key);
  const meta = join(dir, 'release.json');
  const shape = (hostapp: HostappArtifact, cached: boolean): ReleaseBuild => ({
    key,
    dir,
    version: recipe.version,
    variant: recipe.variant,
    deviceType: profile.deviceType,
    rootfsDir: join(dir, 'rootfs'),
    bootDir: join(dir, 'boot'),
    hostapp,
    packages,
    cached,
  });
  if (
    await reuse({
      what: `release ${recipe.version} (${recipe.variant}) for ${profile.deviceType}`,
      path: dir,
      check: () => checkEntry(dir),
      narrator,
    })
  ) {
    const { hostapp } = JSON.parse(await readFile(meta, 'utf8')) as { hostapp: HostappArtifact };
    return shape({ ...hostapp, dir: join(dir, 'hostapp') }, true);
  }

  // Unique per build, not per process: two builds of the same entry can run in one process
  // (campaigns side by side); publish() keeps whichever finishes first.
  const work = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    const epoch = Math.floor(Date.parse(recipe.date) / 1000);
    const debs = await narrator.step(`fetch ${packages.length} Debian packages (digest-checked)`, async () => {
      const paths: string[] = [];
      for (const p of packages) paths.push(await fetchPackage(p, cacheDir(), narrator));
      return paths;
    });
    const nodeVersion = recipe.node.versions?.[arch] ?? recipe.node.version;
    const nodeTarball = await narrator.step(`fetch Node.js ${nodeVersion} for ${arch} (integrity-checked)`, () =>
      fetchNpmTarball(`node-linux-${NODE_ARCH[arch] ?? arch}@${nodeVersion}`, integrity, cacheDir(), narrator),
    );

    const kernelDeb = debs.at(-1)!;
    const kernelDir = join(work, 'kernel');
    await execa('dpkg-deb', ['-x', kernelDeb, kernelDir]);
    const kernel = await findKernel(kernelDir);
    const busyboxDir = join(work, 'busybox');
    await execa('dpkg-deb', [
      '-x',
      debs[recipe.debianPackages.map(packageName).indexOf('busybox-static')] ?? '',
      busyboxDir,
    ]).catch(() => {
      throw new HuplabError(
        'release-invalid',
        `release ${recipe.version} must include busybox-static in debianPackages`,
        { hint: 'the init, shell and tools come from it' },
      );
    });
    const busybox = join(busyboxDir, 'bin', 'busybox');
    const initramfs = join(work, 'initrd.img');
    const initramfsEpoch = Math.floor((await stat(kernel.vmlinuz)).mtimeMs / 1000);
    await narrator.step(`build initramfs (kernel ${kernel.release})`, () =>
      buildInitramfs({
        kernel,
        modules: profile.kernel.modules,
        busybox,
        workDir: work,
        output: initramfs,
        // Not the release date: the initramfs depends on the kernel and busybox only, and must be
        // byte-identical across releases that share them, or every delta would carry it.
        epoch: initramfsEpoch,
      }),
    );

    const bootDir = join(work, 'boot');
    await narrator.step('prepare boot files', async () => {
      await mkdir(bootDir, { recursive: true });
      if (profile.bootloader.kind === 'u-boot') await populateUBootBoot(bootDir, profile, kernel, work, epoch);
      else await populateGrubEfiBoot(bootDir, profile, work);
      await writeFile(
        join(bootDir, 'config.json'),
        `${JSON.stringify({ deviceType: profile.deviceType, os: { sshKeys: [] } }, null, 2)}\n`,
      );
      await writeFile(join(bootDir, 'os-release'), `VERSION="${recipe.version}"\n`);
      // resinOS 1.x: the boot partition's fingerprint, which the 1.x update checks first.
      if (profile.layout === LAYOUT_1X)
        await writeFile(join(bootDir, FINGERPRINT_FILES.boot), formatFingerprint(fingerprintTree(bootDir, 'boot')));
      await normaliseTimes(bootDir, epoch);
    });
    const rootfsDir = join(work, 'rootfs');
    await narrator.step(`assemble root filesystem of ${recipe.version}`, async () => {
      await assembleRootfs({
        root: rootfsDir,
        recipe,
        profile,
        nodeTarball,
        bootDir,
        debs: debs.slice(0, -1).map((path, i) => {
          const e = recipe.debianPackages[i]!;
          return typeof e === 'string' || !e.paths ? { path } : { path, paths: e.paths };
        }),
        busyboxApplets: await busyboxApplets(busybox, arch),
        kernelImage: await kernelForBootloader(profile, kernel.vmlinuz, work),
        initramfs,
      });
      // resinOS 1.x: the read-write root's fingerprint, made last so that it covers every file.
      if (profile.layout === LAYOUT_1X)
        await writeFile(join(rootfsDir, FINGERPRINT_FILES.root), formatFingerprint(fingerprintTree(rootfsDir, 'root')));
      await normaliseTimes(rootfsDir, epoch);
    });
    const hostapp = await narrator.step(`build hostapp artifact of ${recipe.version} (OCI image)`, () =>
      buildHostapp({ rootfs: rootfsDir, outDir: join(work, 'hostapp'), recipe, profile, epoch }),
    );
    await rm(kernelDir, { recursive: true });
    await rm(busyboxDir, { recursive: true });
    await rm(initramfs);
    await rm(join(work, 'initramfs'), { recursive: true, force: true });
    await writeFile(
      join(work, 'release.json'),
      JSON.stringify(
        {
          version: recipe.version,
          variant: recipe.variant,
          deviceType: profile.deviceType,
          kernel: kernel.release,
          packages: packages.map((p) => `${p.name}=${p.version} sha256:${p.sha256}`),
          hostapp: { manifest: hostapp.manifest, layer: hostapp.layer },
        },
        null,
        2,
      ),
    );
    await recordEntry(work);
    await publish(work, dir);
    // Another process may have published the same build first: describe what is on disk.
    const published = JSON.parse(await readFile(meta, 'utf8')) as { hostapp: HostappArtifact };
    return shape({ ...published.hostapp, dir: join(dir, 'hostapp') }, false);
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  }
}

/**
 * The kernel image as the bootloader loads it from the root: U-Boot reads an SD card at about
 * 1.5 MB/s, so it gets Debian's arm64 Image gzip-compressed (booti unpacks it); GRUB does not
 * unpack arm64 kernels and x86 kernels are compressed already, so those stay as they are.
 */
async function kernelForBootloader(profile: Profile, vmlinuz: string, work: string): Promise<string> {
  if (profile.bootloader.kind !== 'u-boot') return vmlinuz;
  const out = join(work, 'vmlinuz.gz');
  // gzip -n: no name or time stamp in the header, so equal kernels give equal bytes.
  await execa('sh', ['-c', 'gzip -9 -n -c "$IN" > "$OUT"'], { env: { IN: vmlinuz, OUT: out } });
  return out;
}

/**
 * The applet list of the device's busybox. It can only be asked by running busybox, so for a
 * foreign architecture the same Debian version built for this host answers instead.
 */
async function busyboxApplets(busybox: string, arch: string): Promise<string[]> {
  const binary = busybox;
  if (arch !== hostArch()) {
    const pkg = await resolvePackage('busybox-static', hostArch());
    const dir = join(cacheDir(), `tmp-busybox-host-${randomBytes(4).toString('hex')}`);
    await execa('dpkg-deb', ['-x', await fetchPackage(pkg, cacheDir()), dir]);
    try {
      const { stdout } = await execa(join(dir, 'bin', 'busybox'), ['--list-full']);
      return stdout.trim().split('\n').filter(Boolean);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const { stdout } = await execa(binary, ['--list-full']);
  return stdout.trim().split('\n').filter(Boolean);
}
