import { readdir, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HuplabError } from '../errors.ts';

// mke2fs creates it in every fresh ext4 filesystem; it belongs to the filesystem, not to us.
const FS_OWNED = new Set(['lost+found']);

/**
 * The new OS is written into an empty directory (the freshly formatted spare root): writing
 * over an old tree would silently keep files the new release does not have.
 */
export async function emptyTargetRoot(targetRoot: string): Promise<string> {
  const abs = await realpath(targetRoot).catch((err: NodeJS.ErrnoException) => {
    throw new HuplabError('target-missing', `${targetRoot} does not exist (${err.code})`, {
      hint: 'mount the spare root there first',
    });
  });
  const extra = (await readdir(abs)).filter((n) => !FS_OWNED.has(n));
  if (extra.length) {
    throw new HuplabError(
      'target-not-empty',
      `${targetRoot} is not empty (${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', ...' : ''})`,
      {
        hint: 'format the spare root before writing the new OS into it',
      },
    );
  }
  return abs;
}

/**
 * Removes what a failed write put into the target, so that the caller can retry (e.g. with the
 * full image) without formatting again. Only called on a directory that emptyTargetRoot
 * accepted, so everything in it (but lost+found) was written by us.
 */
export async function clearTargetRoot(abs: string): Promise<void> {
  for (const name of await readdir(abs)) {
    if (!FS_OWNED.has(name)) await rm(join(abs, name), { recursive: true, force: true });
  }
}
