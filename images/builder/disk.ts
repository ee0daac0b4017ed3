import { open, rm, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { HuplabError } from '../../lib/errors.ts';
import { writePartitionTable } from '../../lib/partition/index.ts';
import { partitionLayout, type Profile } from '../../lib/profile.ts';

/**
 * Writes a disk image: the partition table, then each filesystem image at its partition's
 * offset. Zero blocks are skipped, so the image stays sparse and a 1 GiB disk costs what its
 * files weigh.
 */
export async function assembleDisk(opts: {
  output: string;
  profile: Profile;
  seed: string;
  filesystems: Record<string, string>;
}): Promise<void> {
  await rm(opts.output, { force: true });
  await writePartitionTable(opts.output, opts.profile, opts.seed);
  const slots = partitionLayout(opts.profile);
  const disk = await open(opts.output, 'r+');
  try {
    for (const slot of slots) {
      const image = opts.filesystems[slot.label];
      if (!image) continue;
      const size = (await stat(image)).size;
      if (size > slot.sizeBytes) {
        throw new HuplabError(
          'partition-too-small',
          `${slot.label}: filesystem is ${size} bytes but the partition holds ${slot.sizeBytes}`,
          {
            hint: 'raise its sizeMiB in the device profile',
          },
        );
      }
      await copySparse(image, disk, slot.startBytes);
    }
  } finally {
    await disk.close();
  }
}

const BLOCK = 1024 * 1024;

async function copySparse(src: string, dst: Awaited<ReturnType<typeof open>>, offset: number): Promise<void> {
  let pos = 0;
  for await (const chunk of createReadStream(src, { highWaterMark: BLOCK })) {
    const buf = chunk as Buffer;
    // Coalesce runs of non-zero 4 KiB blocks into one write each.
    let runStart = -1;
    for (let i = 0; i <= buf.length; i += 4096) {
      const zero = i >= buf.length || isZero(buf.subarray(i, Math.min(i + 4096, buf.length)));
      if (!zero && runStart < 0) runStart = i;
      if (zero && runStart >= 0) {
        const end = Math.min(i, buf.length);
        await dst.write(buf, runStart, end - runStart, offset + pos + runStart);
        runStart = -1;
      }
    }
    pos += buf.length;
  }
}

function isZero(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i += 8) {
    if (i + 8 <= buf.length ? buf.readBigUInt64LE(i) !== 0n : buf.subarray(i).some((b) => b !== 0)) return false;
  }
  return true;
}
