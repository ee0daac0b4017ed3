import { statfsSync } from 'node:fs';
import { HuplabError } from '../../lib/errors.ts';

/** The room an update needs on the data partition: the full layer (worst case) and some to spare. */
export const UPDATE_DATA_SPACE = 96 * 2 ** 20;

/**
 * The free bytes on `mount`, or 'no-space' when fewer than `need`: checked before anything is
 * written, as the field checks space before anything else.
 */
export function requireDataSpace(need = UPDATE_DATA_SPACE, mount = '/mnt/data'): number {
  const st = statfsSync(mount);
  const free = st.bavail * st.bsize;
  if (free < need)
    throw new HuplabError(
      'no-space',
      `${mount} has ${(free / 2 ** 20).toFixed(1)} MiB free; the update needs ${need / 2 ** 20} MiB`,
      { hint: 'free space on the data partition and retry' },
    );
  return free;
}
