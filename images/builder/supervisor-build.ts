/**
 * A supervisor release built for one CPU architecture: the agent (updater/supervisor/main.ts
 * and the lib/ code it uses) bundled by esbuild with its version baked in, its release record and
 * changelog, packed as a one-layer OCI image layout by the hostapps' writer (hostapp.ts). The
 * bytes depend on the inputs only (fixed modes, times and owner, a sorted tar), so the same
 * recipe, architecture and source give the same digest on any machine with the same tools; the
 * build is content-addressed in the cache (`supervisors/<key>/`) and every hit is checked.
 */
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { version as esbuildVersion } from 'esbuild';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { cacheDir } from '../../lib/paths.ts';
import { SUPERVISOR_LABELS, type SupervisorArch } from '../../lib/supervisor-policy.ts';
import { bundleForDevice, SUPERVISOR_ENTRY, SUPERVISOR_VERSION_DEFINE } from '../../updater/bundle.ts';
import type { SupervisorRecipe } from '../supervisor-recipe.ts';
import { buildEntry } from './cache-entry.ts';
import { SUPERVISOR_SOURCES, sourceDigest, supervisorKey } from './cache-key.ts';
import { checkEntry, reuse } from './cache-verify.ts';
import { type HostappArtifact, writeImageLayout } from './hostapp.ts';
import { normaliseTimes } from './reproducible.ts';

/** The files of a supervisor image's layer, at its root (the device unpacks it into its own folder). */
export const SUPERVISOR_IMAGE_FILES = {
  code: 'supervisor.mjs',
  release: 'supervisor-release.json',
  notes: 'CHANGELOG.md',
} as const;

/** What the image's supervisor-release.json says. */
export interface SupervisorReleaseFile {
  version: string;
  date: string;
  arch: string;
  minOsVersion: string;
}

export interface SupervisorBuild {
  key: string;
  /** The cache entry. */
  dir: string;
  version: string;
  arch: SupervisorArch;
  minOsVersion: string;
  /** The OCI image layout (oci-layout, index.json, blobs/sha256/...). */
  image: HostappArtifact;
  cached: boolean;
}

/** What the cache entry's supervisor.json records. */
interface EntryMeta {
  version: string;
  arch: string;
  minOsVersion: string;
  image: { manifest: HostappArtifact['manifest']; layer: HostappArtifact['layer'] };
}

/** The tools whose output lands in a supervisor image. */
export async function supervisorToolVersions(): Promise<Record<string, string>> {
  const tar = await execa('tar', ['--version'], { reject: false });
  return {
    esbuild: esbuildVersion,
    tar: tar.stdout.split('\n')[0] ?? 'unknown',
    zlib: process.versions.zlib ?? 'unknown',
  };
}

/** Builds (or takes from the cache, checked) one supervisor release for one CPU architecture. */
export async function buildSupervisor(
  recipe: SupervisorRecipe,
  arch: SupervisorArch,
  narrator: Narrator = silentNarrator,
): Promise<SupervisorBuild> {
  if (!recipe.arches.includes(arch))
    throw new HuplabError(
      'supervisor-arch-unknown',
      `supervisor ${recipe.version} is not built for ${arch} (its arches: ${recipe.arches.join(', ')})`,
      { hint: `add ${arch} to arches in images/supervisor-releases/${recipe.version}.json, or choose one of those` },
    );
  const key = supervisorKey({
    recipe,
    arch,
    source: await sourceDigest(SUPERVISOR_SOURCES),
    tools: await supervisorToolVersions(),
  });
  const dir = join(cacheDir(), 'supervisors', key);
  const shape = (meta: EntryMeta, cached: boolean): SupervisorBuild => ({
    key,
    dir,
    version: recipe.version,
    arch,
    minOsVersion: meta.minOsVersion,
    image: { ...meta.image, dir: join(dir, 'oci') },
    cached,
  });
  const readMeta = async () => JSON.parse(await readFile(join(dir, 'supervisor.json'), 'utf8')) as EntryMeta;
  if (
    await reuse({ what: `supervisor ${recipe.version} for ${arch}`, path: dir, check: () => checkEntry(dir), narrator })
  )
    return shape(await readMeta(), true);

  const meta = await buildEntry(dir, 'supervisor.json', async (work): Promise<EntryMeta> => {
    const epoch = Math.floor(Date.parse(recipe.date) / 1000);
    const content = join(work, 'content');
    await narrator.step(`bundle supervisor ${recipe.version} (${arch})`, async () => {
      await mkdir(content, { recursive: true });
      await bundleForDevice(SUPERVISOR_ENTRY, join(content, SUPERVISOR_IMAGE_FILES.code), {
        define: { [SUPERVISOR_VERSION_DEFINE]: JSON.stringify(recipe.version) },
        target: recipe.nodeTarget,
      });
      const release: SupervisorReleaseFile = {
        version: recipe.version,
        date: recipe.date,
        arch,
        minOsVersion: recipe.minOsVersion,
      };
      await writeFile(join(content, SUPERVISOR_IMAGE_FILES.release), `${JSON.stringify(release, null, 2)}\n`);
      await writeFile(join(content, SUPERVISOR_IMAGE_FILES.notes), recipe.notes);
      // Modes and times are set, not inherited from the umask and the clock: they are in the tar.
      await chmod(content, 0o755);
      for (const f of Object.values(SUPERVISOR_IMAGE_FILES)) await chmod(join(content, f), 0o644);
      await normaliseTimes(content, epoch);
    });
    const image = await narrator.step(`pack supervisor ${recipe.version} (${arch}) as an OCI image`, () =>
      writeImageLayout({
        contentDir: content,
        outDir: join(work, 'oci'),
        epoch,
        created: recipe.date,
        arch,
        labels: {
          'io.balena.image.class': 'supervisor',
          [SUPERVISOR_LABELS.version]: recipe.version,
          [SUPERVISOR_LABELS.arch]: arch,
          [SUPERVISOR_LABELS.minOsVersion]: recipe.minOsVersion,
        },
        version: recipe.version,
        refName: `supervisor-${arch}-${recipe.version}`,
      }),
    );
    await rm(content, { recursive: true });
    return {
      version: recipe.version,
      arch,
      minOsVersion: recipe.minOsVersion,
      image: { manifest: image.manifest, layer: image.layer },
    };
  });
  return shape(meta, false);
}
