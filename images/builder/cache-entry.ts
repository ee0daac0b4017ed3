import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';

/** Bumped when the layout of cache entries changes. */
export const BUILDER_FORMAT = 1;

/** Moves a finished build into place in one rename, so no reader ever sees half an entry. */
export async function publish(work: string, dir: string): Promise<void> {
  try {
    await rename(work, dir);
  } catch (err) {
    // Someone else finished the same build first; theirs is identical, keep it.
    if (existsSync(dir)) await rm(work, { recursive: true, force: true });
    else throw err;
  }
}
