/**
 * The application's image for one CPU architecture: its files (app-files.ts) packed as a
 * one-layer OCI image layout by the hostapps' writer, labelled with the app id and release the
 * supervisor checks. Reproducible and content-addressed in the cache (`apps/<key>/`), every hit
 * checked, like the supervisor images.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { APP_LABELS, DEMO_APP } from '../../lib/contract/application.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { cacheDir } from '../../lib/paths.ts';
import { APP_SOURCE_DIR, type AppRecipe, DEMO_APP_RECIPE } from '../app-recipe.ts';
import { writeAppFiles } from './app-files.ts';
import { BUILDER_FORMAT, buildEntry } from './cache-entry.ts';
import { hashInputs, sourceDigest } from './cache-key.ts';
import { checkEntry, reuse } from './cache-verify.ts';
import { type HostappArtifact, writeImageLayout } from './hostapp.ts';
import { normaliseTimes } from './reproducible.ts';

/** What an application image's bytes depend on, besides its recipe and architecture. */
export const APP_SOURCES = [
  APP_SOURCE_DIR,
  'images/app-recipe.ts',
  'images/builder/app-build.ts',
  'images/builder/app-files.ts',
  'images/builder/hostapp.ts',
  'images/builder/reproducible.ts',
  'lib/contract/application.ts',
];

export interface AppBuild {
  key: string;
  /** The cache entry. */
  dir: string;
  release: string;
  arch: string;
  image: HostappArtifact;
  cached: boolean;
}

interface EntryMeta {
  release: string;
  arch: string;
  image: { manifest: HostappArtifact['manifest']; layer: HostappArtifact['layer'] };
}

/** Builds (or takes from the cache, checked) the application's image for `arch` (Debian's name). */
export async function buildAppImage(
  arch: string,
  narrator: Narrator = silentNarrator,
  recipe: AppRecipe = DEMO_APP_RECIPE,
): Promise<AppBuild> {
  const tar = await execa('tar', ['--version'], { reject: false });
  const key = hashInputs({
    format: BUILDER_FORMAT,
    kind: 'app',
    recipe,
    arch,
    source: await sourceDigest(APP_SOURCES),
    tools: { tar: tar.stdout.split('\n')[0] ?? 'unknown', zlib: process.versions.zlib ?? 'unknown' },
  });
  const dir = join(cacheDir(), 'apps', key);
  const what = `application ${DEMO_APP.name} ${recipe.release} (${arch})`;
  const shape = (meta: EntryMeta, cached: boolean): AppBuild => ({
    key,
    dir,
    release: meta.release,
    arch: meta.arch,
    image: { ...meta.image, dir: join(dir, 'oci') },
    cached,
  });
  const readMeta = async () => JSON.parse(await readFile(join(dir, 'app.json'), 'utf8')) as EntryMeta;
  if (await reuse({ what, path: dir, check: () => checkEntry(dir), narrator })) return shape(await readMeta(), true);

  const meta = await buildEntry(dir, 'app.json', async (work): Promise<EntryMeta> => {
    const epoch = Math.floor(Date.parse(recipe.date) / 1000);
    const content = join(work, 'content');
    await writeAppFiles(content, recipe);
    await normaliseTimes(content, epoch);
    const image = await narrator.step(`pack ${what} as an OCI image`, () =>
      writeImageLayout({
        contentDir: content,
        outDir: join(work, 'oci'),
        epoch,
        created: recipe.date,
        arch,
        labels: {
          'io.balena.image.class': 'application',
          [APP_LABELS.appId]: String(DEMO_APP.appId),
          [APP_LABELS.release]: recipe.release,
        },
        version: recipe.release,
        refName: `app-${DEMO_APP.name}-${arch}-${recipe.release}`,
      }),
    );
    await rm(content, { recursive: true });
    return { release: recipe.release, arch, image: { manifest: image.manifest, layer: image.layer } };
  });
  return shape(meta, false);
}
