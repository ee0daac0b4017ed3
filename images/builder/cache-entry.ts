import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recordEntry } from './cache-verify.ts';

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

/**
 * Builds one cache entry: `build` fills a work folder of its own and returns the entry's
 * description, written beside it as `metaFile`; the folder is recorded (cache-verify.ts) and
 * published in one rename. Returns the description as published: another process may have
 * published the same build first. A failure removes the work folder.
 */
export async function buildEntry<M>(dir: string, metaFile: string, build: (work: string) => Promise<M>): Promise<M> {
  const work = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    const meta = await build(work);
    await writeFile(join(work, metaFile), `${JSON.stringify(meta, null, 2)}\n`);
    await recordEntry(work);
    await publish(work, dir);
    return JSON.parse(await readFile(join(dir, metaFile), 'utf8')) as M;
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  }
}
