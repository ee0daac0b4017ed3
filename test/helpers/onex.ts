import { cp } from 'node:fs/promises';
import type { Test } from 'tap';
import { releasesDir } from '../../lib/paths.ts';

export { loadRelease } from '../../images/recipe.ts';

/** A copy of the shipped release recipes in a test folder, to break one of them. */
export async function releasesDirForTest(t: Test): Promise<string> {
  const dir = t.testdir({});
  await cp(releasesDir, dir, { recursive: true });
  return dir;
}
