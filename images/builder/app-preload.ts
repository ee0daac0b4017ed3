/**
 * The application preloaded on a built device's data partition, as `balena preload` does: its
 * release unpacked in the engine's store (lib/contract/application.ts) and named `current`, so
 * the device starts it at its first boot without a registry.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { APP_FILES, APP_STORE, DEMO_APP } from '../../lib/contract/application.ts';
import { DEMO_APP_RECIPE } from '../app-recipe.ts';
import { writeAppFiles } from './app-files.ts';

/** Writes the store under `dataDir`, the data partition's root. */
export async function preloadApplication(dataDir: string, recipe = DEMO_APP_RECIPE): Promise<void> {
  const app = join(dataDir, APP_STORE.slice('/mnt/data/'.length), String(DEMO_APP.appId));
  await writeAppFiles(join(app, recipe.release), recipe);
  await writeFile(join(app, APP_FILES.current), `${recipe.release}\n`);
}
