/**
 * Writes the migration's partition tables (lib/partition/migrate-1x.ts) to the disk the device
 * runs from, and tells the running kernel of each change with the migration's tool (BLKPG: the
 * disk is busy, so the kernel cannot re-read the whole table). The table is written first and
 * flushed, so that a power cut leaves the disk with the new table and the next boot sees it.
 */
import { closeSync, fsyncSync, openSync, readFileSync, readSync, realpathSync, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import { encodeMbr, readMbrPartitions, type MbrEntry } from '../../lib/partition/mbr.ts';
import type { MigrationPhase } from '../../lib/partition/migrate-1x.ts';
import { run } from '../common/run.ts';

const SECTOR = 512;

/** The disk behind a partition device (/dev/vda2 -> /dev/vda, /dev/mmcblk0p2 -> /dev/mmcblk0) and its naming. */
export function diskOf(partition: string): { disk: string; part: (n: number) => string } {
  const dev = basename(realpathSync(partition));
  // The partition's sysfs node sits in its disk's (path.resolve would drop a `..` before the link is followed).
  const parent = basename(dirname(realpathSync(`/sys/class/block/${dev}`)));
  const disk = `/dev/${parent}`;
  const sep = /\d$/.test(parent) ? 'p' : '';
  return { disk, part: (n) => `${disk}${sep}${n}` };
}

/** The disk's size in 512-byte sectors, as the kernel has it. */
export function diskSectors(disk: string): number {
  return Number(readFileSync(`/sys/class/block/${basename(disk)}/size`, 'utf8').trim());
}

/** The disk's partition table as it is on the disk. */
export async function readTable(disk: string): Promise<{ diskSignature: number; partitions: MbrEntry[] }> {
  const fd = openSync(disk, 'r');
  try {
    return await readMbrPartitions(async (lba) => {
      const b = Buffer.alloc(SECTOR);
      readSync(fd, b, 0, SECTOR, lba * SECTOR);
      return b;
    });
  } finally {
    closeSync(fd);
  }
}

/** Writes a phase's table (MBR and EBRs), flushes it, then makes the kernel's changes with `tool`. */
export function applyPhase(disk: string, phase: MigrationPhase, tool: string, log: (m: string) => void): void {
  const encoded = encodeMbr(phase.table);
  const fd = openSync(disk, 'r+');
  try {
    // The EBRs before the MBR: the MBR is what points at them, so it goes last.
    for (const e of encoded.ebrs) writeSync(fd, e.data, 0, e.data.length, e.offset);
    fsyncSync(fd);
    writeSync(fd, encoded.mbr, 0, encoded.mbr.length, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  for (const k of phase.kernel) {
    const args =
      k.op === 'del'
        ? [disk, 'del', String(k.index)]
        : [disk, k.op, String(k.index), String(k.firstLba * SECTOR), String(k.sectors * SECTOR)];
    const r = run(tool, args, { allowFail: true });
    if (r.code !== 0)
      throw new HuplabError('repartition-failed', `${basename(tool)} ${args.join(' ')}: ${r.stderr.trim()}`);
    log(
      `kernel: partition ${k.index} ${k.op}${k.op === 'del' ? '' : ` at sector ${k.firstLba}, ${k.sectors} sectors`}`,
    );
  }
  // Let udev/mdev-less busybox see the new nodes: devtmpfs makes them as the kernel adds them.
  run('sync', []);
}
