/**
 * The files of the application's image, at its layer's root: the code, its sha256 file (what
 * the init script and the supervisor check it against) and the release record. The image
 * (app-build.ts) and the preload on a built device (app-preload.ts) write the same bytes.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { APP_FILES, DEMO_APP } from '../../lib/contract/application.ts';
import { repoRoot } from '../../lib/paths.ts';
import { APP_SOURCE_DIR, type AppRecipe } from '../app-recipe.ts';

export async function writeAppFiles(dir: string, recipe: AppRecipe): Promise<void> {
  const code = await readFile(join(repoRoot, APP_SOURCE_DIR, APP_FILES.code));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, APP_FILES.code), code);
  await writeFile(
    join(dir, APP_FILES.codeSha256),
    `${createHash('sha256').update(code).digest('hex')}  ${APP_FILES.code}\n`,
  );
  await writeFile(
    join(dir, APP_FILES.release),
    `${JSON.stringify({ ...DEMO_APP, release: recipe.release }, null, 2)}\n`,
  );
  // Modes are set, not inherited from the umask: they are in the tar and on the data partition.
  await chmod(dir, 0o755);
  for (const f of [APP_FILES.code, APP_FILES.codeSha256, APP_FILES.release]) await chmod(join(dir, f), 0o644);
}
