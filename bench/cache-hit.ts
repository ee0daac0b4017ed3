import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage } from '../images/builder/index.ts';
import { checkEntry, ENTRY_RECORD, type EntryRecord, forgetDigests } from '../images/builder/cache-verify.ts';
import { median, table } from './stats.ts';

const ROUNDS = Number(process.env.HUPLAB_BENCH_ROUNDS ?? 7);

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

function ms(v: number): string {
  return v < 1 ? `${(v * 1000).toFixed(0)} µs` : `${v.toFixed(v < 10 ? 1 : 0)} ms`;
}

/**
 * A cache hit, checked against the entry's record, against the former unchecked hit (an
 * existsSync of the entry's metadata file), side by side and interleaved in one run, on the
 * cached generic-amd64 2.101.0 image and its release (built first when missing): the first hit
 * in a process reads every byte, a later one in the same process finds the files unchanged by
 * their metadata. For scale: a whole cached buildImage, and hashing the disk image whole instead
 * of its data regions. The page cache is warm (the check runs just after the image was used).
 */
export async function benchCacheHit(): Promise<string> {
  const image = await buildImage({ device: 'generic-amd64', release: '2.101.0' });
  const imageDir = join(image.disk, '..');
  const release = image.releaseBuilds[0]!;
  const skip = ['disk.simg.gz', 'sparse-image.json'];
  const recorded = async (dir: string) =>
    (JSON.parse(await readFile(join(dir, ENTRY_RECORD), 'utf8')) as EntryRecord).nodes.filter((n) => n.type === 'file');
  const releaseFiles = await recorded(release.dir);
  const releaseBytes = releaseFiles.reduce((s, n) => s + (n.type === 'file' ? n.size : 0), 0);
  const disk = statSync(image.disk);

  const runs: Record<string, number[]> = {
    unchecked: [],
    image: [],
    release: [],
    again: [],
    whole: [],
    build: [],
    buildAgain: [],
  };
  const check = async (dir: string, skipped: string[] = []) => {
    const why = await checkEntry(dir, skipped);
    if (why) throw new Error(why);
  };
  for (let i = 0; i < ROUNDS; i++) {
    runs.unchecked!.push(
      await timed(async () => {
        // What a hit was before: the metadata files exist.
        if (!existsSync(join(imageDir, 'image.json')) || !existsSync(join(release.dir, 'release.json')))
          throw new Error('not cached');
      }),
    );
    forgetDigests();
    runs.image!.push(await timed(() => check(imageDir, skip)));
    runs.release!.push(await timed(() => check(release.dir)));
    runs.again!.push(await timed(() => Promise.all([check(imageDir, skip), check(release.dir)])));
    runs.whole!.push(
      await timed(async () => {
        const hash = createHash('sha256');
        for await (const chunk of createReadStream(image.disk, { highWaterMark: 4 << 20 }))
          hash.update(chunk as Buffer);
        hash.digest();
      }),
    );
    forgetDigests();
    runs.build!.push(await timed(() => buildImage({ device: 'generic-amd64', release: '2.101.0' })));
    runs.buildAgain!.push(await timed(() => buildImage({ device: 'generic-amd64', release: '2.101.0' })));
  }
  forgetDigests();
  const m = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)])) as Record<string, number>;
  const checked = m.image! + m.release!;
  const MiB = 2 ** 20;
  return [
    `## Cache hit: checked against its record vs unchecked, generic-amd64 2.101.0 (median of ${ROUNDS}, in process)`,
    table([
      ['what', 'time', 'vs unchecked hit'],
      ['unchecked hit (image.json and release.json exist)', ms(m.unchecked!), '1'],
      [
        `checked, first hit in a process: image entry (disk.img ${(disk.size / MiB).toFixed(0)} MiB long, ${((disk.blocks * 512) / MiB).toFixed(0)} MiB allocated)`,
        ms(m.image!),
        (m.image! / m.unchecked!).toFixed(0),
      ],
      [
        `checked, first hit in a process: release entry (${releaseFiles.length} files, ${(releaseBytes / MiB).toFixed(0)} MiB)`,
        ms(m.release!),
        (m.release! / m.unchecked!).toFixed(0),
      ],
      [
        'checked, again in the same process: both entries (files unchanged since read)',
        ms(m.again!),
        (m.again! / m.unchecked!).toFixed(0),
      ],
      ['for comparison: sha256 of the whole disk.img, holes read', ms(m.whole!), (m.whole! / m.unchecked!).toFixed(0)],
    ]),
    '',
    table([
      ['whole cached buildImage (keys, apt answers, both checks)', 'time', 'checks share'],
      ['buildImage, cache hit, first in a process', ms(m.build!), `${((checked / m.build!) * 100).toFixed(0)} %`],
      [
        'buildImage, cache hit, again in the same process',
        ms(m.buildAgain!),
        `${((m.again! / m.buildAgain!) * 100).toFixed(0)} %`,
      ],
    ]),
    `sparse-aware image check vs hashing the whole disk: ${(m.image! / m.whole!).toFixed(2)}`,
  ].join('\n');
}
