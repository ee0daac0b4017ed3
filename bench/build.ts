import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { cacheDir } from '../lib/paths.ts';
import { seconds, table } from './stats.ts';

async function timeBuild(cache: string): Promise<number> {
  const started = Date.now();
  await execa(
    join(import.meta.dirname, '..', 'bin', 'huplab'),
    ['images', 'build', '--device', 'generic-amd64', '--release', '2.101.0', '--json'],
    {
      env: { HUPLAB_CACHE: cache, HUPLAB_QUIET: '1' },
    },
  );
  return Date.now() - started;
}

/**
 * Image build time: cold (empty cache, downloads included), cold with the downloads already
 * cached (the build work alone), and cached (second build of the same release), in one run.
 */
export async function benchBuild(): Promise<string> {
  const fresh = mkdtempSync(join(tmpdir(), 'huplab-bench-cache-'));
  const seeded = mkdtempSync(join(tmpdir(), 'huplab-bench-cache-'));
  try {
    const cold = await timeBuild(fresh);
    for (const d of ['debs', 'npm'])
      if (existsSync(join(fresh, d))) cpSync(join(fresh, d), join(seeded, d), { recursive: true });
    const coldBuildOnly = await timeBuild(seeded);
    const cached = await timeBuild(seeded);
    return [
      '## Image build time, generic-amd64 2.101.0 (CLI wall time, one run)',
      table([
        ['build', 'time', 'vs cold'],
        ['cold: empty cache, downloads included', seconds(cold), '1.00'],
        ['cold: packages already downloaded', seconds(coldBuildOnly), (coldBuildOnly / cold).toFixed(2)],
        ['cached: same release again', seconds(cached), (cached / cold).toFixed(3)],
      ]),
      `cache used for the real builds: ${cacheDir()} (left untouched)`,
    ].join('\n');
  } finally {
    rmSync(fresh, { recursive: true, force: true });
    rmSync(seeded, { recursive: true, force: true });
  }
}
