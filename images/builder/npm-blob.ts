import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { checkDigest, reuse } from './cache-verify.ts';

/**
 * Fetches an npm tarball (here: the Node.js runtime for the device, node-linux-<arch>) into the
 * cache and checks it against the integrity pinned in the release recipe, so that the device's
 * runtime is exactly the one the recipe names. A cached tarball is checked against the same
 * integrity at every use, and downloaded again if it does not match.
 */
export async function fetchNpmTarball(
  spec: string,
  integrity: string,
  cache: string,
  narrator: Narrator = silentNarrator,
): Promise<string> {
  const [algo, expected] = integrity.split('-', 2) as [string, string];
  const dir = join(cache, 'npm');
  const target = join(dir, `${Buffer.from(expected, 'base64').toString('hex').slice(0, 64)}.tgz`);
  if (
    await reuse({
      what: `npm tarball ${spec}`,
      path: target,
      check: () => checkDigest(target, algo, expected, 'base64'),
      narrator,
    })
  )
    return target;
  await mkdir(dir, { recursive: true });
  const work = join(dir, `.pack-${process.pid}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work);
  try {
    const r = await execa('npm', ['pack', spec, '--pack-destination', work, '--silent'], { reject: false, cwd: work });
    const files = (await readdir(work)).filter((f) => f.endsWith('.tgz'));
    if (r.exitCode !== 0 || files.length !== 1) {
      throw new HuplabError('npm-download-failed', `could not download ${spec} from the npm registry`, {
        hint: 'check the network to the npm registry',
      });
    }
    const file = join(work, files[0]!);
    const actual = createHash(algo)
      .update(await readFile(file))
      .digest('base64');
    if (actual !== expected) {
      throw new HuplabError(
        'digest-mismatch',
        `${spec}: ${algo} ${actual} does not match the recipe's integrity ${expected}`,
        {
          hint: 'the recipe pins the runtime; update its node.integrity only after checking the new tarball',
        },
      );
    }
    await rename(file, target);
    return target;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
