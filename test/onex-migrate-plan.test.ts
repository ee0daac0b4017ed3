/**
 * The 1.x -> 2.x repartition plan (lib/partition/migrate-1x.ts), written to a file-backed disk
 * and read back by sfdisk: each phase is a valid table, the 2.x partitions lie where the field's
 * parted calls put them, the running root's start never moves, and a table that is not the 1.x
 * one, or a disk too small, is refused before anything is written.
 */
import t from 'tap';
import { open, truncate } from 'node:fs/promises';
import { execa } from 'execa';
import { loadProfile } from '../lib/profile.ts';
import { writePartitionTable } from '../lib/partition/index.ts';
import { encodeMbr, readMbrPartitions } from '../lib/partition/mbr.ts';
import { migrationPlan, MIN_DATA_MIB, type MigrationPhase } from '../lib/partition/migrate-1x.ts';
import { isHuplabError } from '../lib/errors.ts';

const MiB_SECTORS = 2048;
const DISK_MIB = 1024;

async function oneXDisk(dir: string): Promise<string> {
  const file = `${dir}/disk.img`;
  await writePartitionTable(file, await loadProfile('generic-amd64-1x'), 'seed');
  await truncate(file, DISK_MIB * 2 ** 20);
  return file;
}

async function readTable(file: string) {
  const fh = await open(file, 'r');
  try {
    return await readMbrPartitions(async (lba) => {
      const b = Buffer.alloc(512);
      await fh.read(b, 0, 512, lba * 512);
      return b;
    });
  } finally {
    await fh.close();
  }
}

async function write(file: string, phase: MigrationPhase): Promise<void> {
  const e = encodeMbr(phase.table);
  const fh = await open(file, 'r+');
  try {
    for (const x of e.ebrs) await fh.write(x.data, 0, x.data.length, x.offset);
    await fh.write(e.mbr, 0, 512, 0);
  } finally {
    await fh.close();
  }
}

async function sfdisk(file: string): Promise<Array<{ node: string; start: number; size: number; type: string }>> {
  const v = await execa('sfdisk', ['--verify', file], { reject: false });
  if (v.exitCode !== 0 || !/No errors detected/.test(v.stdout))
    throw new Error(`sfdisk --verify: ${v.stdout} ${v.stderr}`);
  const { stdout } = await execa('sfdisk', ['-J', file]);
  return (
    JSON.parse(stdout) as {
      partitiontable: { partitions: Array<{ node: string; start: number; size: number; type: string }> };
    }
  ).partitiontable.partitions;
}

const mib = (n: number) => n * MiB_SECTORS;

/** The code of the HuplabError `fn` throws, or 'none'. */
function refusal(fn: () => unknown): string {
  try {
    fn();
    return 'none';
  } catch (e) {
    return isHuplabError(e) ? e.code : String(e);
  }
}

t.test('the two phases give the field layout: rootA 44-356, rootB 356-668, state 672-692, data 696-end', async (t) => {
  const dir = t.testdir();
  const file = await oneXDisk(dir);
  const before = await readTable(file);
  t.same(
    before.partitions.map((p) => p.index),
    [1, 2, 3, 4, 5, 6],
    'the 1.x image has p1-p3, the extended p4 and p5, p6',
  );
  const plan = migrationPlan(before, DISK_MIB * MiB_SECTORS);

  await write(file, plan.data);
  const mid = await sfdisk(file);
  const at = (parts: typeof mid, n: number) => parts.find((p) => p.node.endsWith(String(n)))!;
  // Phase 1: the roots as they were (the backup on p3 intact), state and data at their 2.x places.
  t.same([at(mid, 2).start, at(mid, 2).size], [before.partitions[1]!.firstLba, before.partitions[1]!.sectors]);
  t.same([at(mid, 3).start, at(mid, 3).size], [before.partitions[2]!.firstLba, before.partitions[2]!.sectors]);
  t.same([at(mid, 5).start, at(mid, 5).size], [mib(672), mib(20)]);
  t.same([at(mid, 6).start, at(mid, 6).size], [mib(696), mib(DISK_MIB - 696)]);
  t.equal(at(mid, 4).start, mib(668), 'the extended partition starts at 668 MiB');
  t.ok(before.partitions[2]!.firstLba + before.partitions[2]!.sectors <= mib(668), 'the old spare root lies before it');

  await write(file, plan.roots);
  const end = await sfdisk(file);
  t.same(
    [at(end, 1).start, at(end, 1).size],
    [before.partitions[0]!.firstLba, before.partitions[0]!.sectors],
    'boot kept',
  );
  t.same([at(end, 2).start, at(end, 2).size], [mib(44), mib(312)], 'rootA grown in place');
  t.same([at(end, 3).start, at(end, 3).size], [mib(356), mib(312)], 'rootB after it');
  t.same([at(end, 5).start, at(end, 6).start], [mib(672), mib(696)]);
  t.same(
    plan.partitions.map((p) => `${p.index}:${p.label}`),
    ['1:resin-boot', '2:resin-rootA', '3:resin-rootB', '5:resin-state', '6:resin-data'],
  );
  t.equal((await readTable(file)).diskSignature, before.diskSignature, 'the disk signature is kept');
});

t.test("the kernel's changes: logical ones replaced first, then p3 replaced and p2 resized in place", async (t) => {
  const dir = t.testdir();
  const plan = migrationPlan(await readTable(await oneXDisk(dir)), DISK_MIB * MiB_SECTORS);
  t.same(
    plan.data.kernel.map((k) => `${k.op} ${k.index}`),
    ['del 6', 'del 5', 'del 4', 'add 5', 'add 6'],
  );
  t.same(
    plan.roots.kernel.map((k) => `${k.op} ${k.index}`),
    ['del 3', 'resize 2', 'add 3'],
  );
  const resize = plan.roots.kernel[1]!;
  t.equal(resize.op === 'resize' && resize.firstLba, mib(44), "the running root's start never moves");
});

t.test('refused before anything is written: a disk too small, a table that is not 1.x', async (t) => {
  const dir = t.testdir();
  const table = await readTable(await oneXDisk(dir));
  // The 1.x image itself (680 MiB): resin-data would start past its end.
  t.equal(
    refusal(() => migrationPlan(table, 680 * MiB_SECTORS)),
    'disk-too-small',
  );
  t.equal(
    refusal(() => migrationPlan(table, (696 + MIN_DATA_MIB - 1) * MiB_SECTORS)),
    'disk-too-small',
  );
  t.equal(
    refusal(() => migrationPlan(table, (696 + MIN_DATA_MIB) * MiB_SECTORS)),
    'none',
  );
  const twoX = { ...table, partitions: table.partitions.filter((p) => p.index !== 6) };
  t.equal(
    refusal(() => migrationPlan(twoX, DISK_MIB * MiB_SECTORS)),
    'layout-unexpected',
  );
  const moved = {
    ...table,
    partitions: table.partitions.map((p) => (p.index === 2 ? { ...p, firstLba: p.firstLba + MiB_SECTORS } : p)),
  };
  t.equal(
    refusal(() => migrationPlan(moved, DISK_MIB * MiB_SECTORS)),
    'layout-unexpected',
  );
});
