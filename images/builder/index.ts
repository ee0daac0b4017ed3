import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import { cacheDir } from '../../lib/paths.ts';
import { loadProfile } from '../../lib/profile.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { loadRelease, withVariant } from '../recipe.ts';
import type { Variant } from '../../lib/contract/variant.ts';
import { publish } from './cache-entry.ts';
import { imageKey, uuidFromSeed } from './cache-key.ts';
import { checkEntry, recordEntry, reuse } from './cache-verify.ts';
import { assembleDisk } from './disk.ts';
import { makeExt4, makeVfat } from './filesystems.ts';
import { buildRelease, type ReleaseBuild } from './release-build.ts';
import { preloadApplication } from './app-preload.ts';
import { populateData1x } from './data-1x.ts';
import { normaliseTimes } from './reproducible.ts';
import { rootLabels } from '../../lib/partition/resin-1x.ts';

export type { ReleaseBuild } from './release-build.ts';

export interface ImageBuild {
  key: string;
  disk: string;
  device: string;
  release: string;
  rootB?: string;
  /** The OS variant in its roots. */
  variant: Variant;
  releaseBuilds: ReleaseBuild[];
  cached: boolean;
  sizeBytes: number;
}

/**
 * Builds (or finds in the cache) the disk image of `release` for `device`: resin-rootA (resin-root
 * on the 1.x line) holds the release; resin-rootB (resin-updt) is empty, or holds `rootB` when given (for tests that boot either root).
 * `variant` (development or production) builds both roots in that variant; default: the variant
 * of `release`'s recipe.
 */
export async function buildImage(opts: {
  device: string;
  release: string;
  rootB?: string;
  variant?: Variant;
  narrator?: Narrator;
}): Promise<ImageBuild> {
  const narrator = opts.narrator ?? silentNarrator;
  const profile = await loadProfile(opts.device);
  const first = await loadRelease(opts.release);
  const variant = withVariant(first, opts.variant).variant;
  const recipes = [first, ...(opts.rootB ? [await loadRelease(opts.rootB)] : [])].map((r) => withVariant(r, variant));
  for (const r of recipes) {
    if (!r.deviceTypes.includes(profile.deviceType)) {
      throw new HuplabError(
        'release-not-for-device',
        `release ${r.version} is not built for ${profile.deviceType} (it supports ${r.deviceTypes.join(', ')})`,
        {
          hint: `add "${profile.deviceType}" to deviceTypes in images/releases/${r.version}.json or pick another release`,
        },
      );
    }
    if (r.layout !== profile.layout) {
      throw new HuplabError(
        'release-not-for-device',
        `release ${r.version} has layout ${r.layout} but profile ${profile.name} has layout ${profile.layout}`,
        {
          hint: `pick a release of the ${profile.layout} line for ${profile.name}, or the profile of ${profile.deviceType} with layout ${r.layout}`,
        },
      );
    }
  }
  const builds: ReleaseBuild[] = [];
  for (const r of recipes) builds.push(await buildRelease(profile, r, narrator));

  const key = imageKey({ profile, releases: builds.map((b) => b.key), variant });
  const dir = join(cacheDir(), 'images', key);
  const disk = join(dir, 'disk.img');
  const result = (cached: boolean): ImageBuild => ({
    key,
    disk,
    device: profile.name,
    release: opts.release,
    ...(opts.rootB ? { rootB: opts.rootB } : {}),
    variant,
    releaseBuilds: builds,
    cached,
    sizeBytes: 0,
  });
  if (
    await reuse({
      what: `image ${profile.name} ${describe(opts)}`,
      path: dir,
      check: () => checkEntry(dir, RAW_IMAGE_FILES),
      narrator,
    })
  ) {
    const meta = JSON.parse(await readFile(join(dir, 'image.json'), 'utf8')) as { sizeBytes: number };
    narrator.info(`image ${profile.name} ${describe(opts)} cached: ${disk}`);
    return { ...result(true), sizeBytes: meta.sizeBytes };
  }
  // Unique per build, not per process: two builds of the same entry can run in one process
  // (campaigns side by side); publish() keeps whichever finishes first.
  const work = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    const epoch = Math.max(...recipes.map((r) => Date.parse(r.date) / 1000));
    const fs: Record<string, string> = {};
    const roots = rootLabels(profile.layout);
    await narrator.step(`make filesystems for ${profile.name} ${describe(opts)}`, async () => {
      for (const part of profile.partitions) {
        const out = join(work, `${part.label}.img`);
        const seed = `${key}:${part.label}`;
        if (part.label === 'resin-boot') {
          await makeVfat({
            dir: builds[0]!.bootDir,
            output: out,
            label: part.label,
            sizeMiB: part.sizeMiB,
            volumeId: uuidFromSeed(seed).slice(0, 8),
            epoch,
          });
        } else if (part.label === roots.A || part.label === roots.B) {
          const b = part.label === roots.A ? builds[0] : builds[1];
          if (!b) continue; // an empty spare root, as on a freshly flashed device
          await makeExt4({
            dir: b.rootfsDir,
            output: out,
            label: part.label,
            sizeMiB: part.sizeMiB,
            uuid: uuidFromSeed(seed),
            epoch,
          });
        } else if (part.label === 'resin-data') {
          // The application preloaded in the engine's store; on resinOS 1.x also its container
          // record, image and data folder as the 1.x engine and supervisor kept them.
          const dataDir = join(work, 'data');
          if (first.onex) await populateData1x(dataDir, first.version, first.onex);
          await preloadApplication(dataDir);
          await normaliseTimes(dataDir, epoch);
          await makeExt4({
            dir: dataDir,
            output: out,
            label: part.label,
            sizeMiB: part.sizeMiB,
            uuid: uuidFromSeed(seed),
            epoch,
          });
          await rm(dataDir, { recursive: true });
        } else if (part.fs === 'ext4') {
          await makeExt4({ output: out, label: part.label, sizeMiB: part.sizeMiB, uuid: uuidFromSeed(seed), epoch });
        } else {
          continue;
        }
        fs[part.label] = out;
      }
    });
    await narrator.step('assemble disk image', () =>
      assembleDisk({ output: join(work, 'disk.img'), profile, seed: key, filesystems: fs }),
    );
    for (const f of Object.values(fs)) await rm(f);
    const sizeBytes = (await stat(join(work, 'disk.img'))).size;
    await writeFile(
      join(work, 'image.json'),
      JSON.stringify(
        {
          device: profile.name,
          release: opts.release,
          rootB: opts.rootB ?? null,
          variant,
          sizeBytes,
          releases: builds.map((b) => ({ version: b.version, key: b.key, hostapp: b.hostapp.manifest.digest })),
        },
        null,
        2,
      ),
    );
    await recordEntry(work, RAW_IMAGE_FILES);
    await publish(work, dir);
    return { ...result(false), sizeBytes };
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  }
}

/** Made beside the disk later, on demand, with a record of their own (raw-image.ts). */
const RAW_IMAGE_FILES = ['disk.simg.gz', 'sparse-image.json'];

function describe(opts: { release: string; rootB?: string; variant?: Variant }): string {
  const variant = opts.variant ? ` ${opts.variant}` : '';
  return opts.rootB ? `${opts.release}${variant} (rootB ${opts.rootB})` : `${opts.release}${variant}`;
}
