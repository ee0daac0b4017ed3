/**
 * The repartition of the resinOS 1.x -> 2.x migration, as data: the two partition tables the
 * migration writes (the field's parted calls, upgrade-1.x-to-2.x.sh step 7) and the kernel's
 * partition changes that go with each, computed from the disk's current table and size. Pure, so
 * that the plan is tested on the host; the updater writes it (updater/onex/repartition.ts).
 *
 * Two phases, because the /data backup lives on the old spare root (p3), which the new rootA
 * overlaps once it grows:
 * 1. `data`: p1-p3 as they are; the extended partition, resin-state and resin-data moved to
 *    their 2.x places (past the old p3), so that the backup can be copied onto the new data;
 * 2. `roots`: p2 grown in place to its 2.x end (its filesystem kept: the running root), p3
 *    recreated after it as resin-rootB.
 */
import { HuplabError } from '../errors.ts';
import { MBR_TYPE, type MbrEntry, type MbrLogicalSpec, type MbrPartitionSpec, type MbrSpec } from './mbr.ts';
import { MIGRATION_1X_TO_2X } from './resin-1x.ts';

const SECTORS_PER_MIB = 2048;

/** One change of the kernel's view of the disk (BLKPG): the disk's own table is written apart. */
export type KernelPartitionOp =
  | { op: 'del'; index: number }
  | { op: 'add'; index: number; firstLba: number; sectors: number }
  | { op: 'resize'; index: number; firstLba: number; sectors: number };

export interface MigrationPhase {
  /** The table to write. */
  table: MbrSpec;
  /** What the running kernel is told afterwards, in order. */
  kernel: KernelPartitionOp[];
}

export interface MigrationPlan {
  data: MigrationPhase;
  roots: MigrationPhase;
  /** The 2.x partitions by label, where they lie, for the log and the checks. */
  partitions: Array<{ index: number; label: string; firstLba: number; sectors: number }>;
}

/** The smallest resin-data the plan accepts: the restored /data and the downloaded OS must fit. */
export const MIN_DATA_MIB = 128;

function place(label: string): { startMiB: number; endMiB: number | undefined } {
  const p = MIGRATION_1X_TO_2X.find((m) => m.to === label);
  if (!p) throw new Error(`no 2.x place for ${label}`);
  return p;
}

function fail(message: string, hint: string): HuplabError {
  return new HuplabError('layout-unexpected', message, { hint });
}

/**
 * The plan for a disk of `diskSectors` 512-byte sectors whose table is `current` (the 1.x
 * layout: p1-p3 primary, p4 extended, p5 resin-conf, p6 resin-data). Refuses a table that is not
 * the 1.x one, or a disk too small for the 2.x layout, before anything is written.
 */
export function migrationPlan(
  current: { diskSignature: number; partitions: MbrEntry[] },
  diskSectors: number,
): MigrationPlan {
  const byIndex = new Map(current.partitions.map((p) => [p.index, p]));
  const [p1, p2, p3, p4] = [1, 2, 3, 4].map((i) => byIndex.get(i));
  if (!p1 || !p2 || !p3 || !p4?.isExtended || !byIndex.get(5) || !byIndex.get(6) || byIndex.size !== 6)
    throw fail(
      `the disk's partition table is not the resinOS 1.x one (found ${[...byIndex.keys()].join(', ')})`,
      'only a device with the 1.x layout (p1-p3, extended p4, p5, p6) can be migrated',
    );
  const mib = (n: number) => n * SECTORS_PER_MIB;
  const rootA = place('resin-rootA');
  const rootB = place('resin-rootB');
  const state = place('resin-state');
  const data = place('resin-data');
  if (p2.firstLba !== mib(rootA.startMiB))
    throw fail(
      `resin-root starts at sector ${p2.firstLba}, not at ${rootA.startMiB} MiB where resin-rootA must`,
      'this layout was not made by a 1.x image',
    );
  if (p3.firstLba + p3.sectors > mib(state.startMiB - 4))
    throw fail(
      'the spare root ends past where the 2.x extended partition starts',
      'this layout was not made by a 1.x image',
    );
  // The last MiB boundary of the disk: data runs to it, as parted's 100% does.
  const endLba = Math.floor(diskSectors / SECTORS_PER_MIB) * SECTORS_PER_MIB;
  const dataSectors = endLba - mib(data.startMiB);
  if (dataSectors < mib(MIN_DATA_MIB))
    throw new HuplabError(
      'disk-too-small',
      `the disk has ${Math.floor(diskSectors / SECTORS_PER_MIB)} MiB; the 2.x layout puts resin-data at ${data.startMiB} MiB and needs ${MIN_DATA_MIB} MiB there`,
      { hint: `a device needs at least ${data.startMiB + MIN_DATA_MIB} MiB of storage to be migrated` },
    );
  const primary = (p: MbrEntry): MbrPartitionSpec => ({
    type: p.type,
    firstLba: p.firstLba,
    sectors: p.sectors,
    ...(p.bootable ? { bootable: true } : {}),
  });
  // Each logical partition's EBR takes the 4 MiB slot before it, as the 1.x and 2.x images lay them.
  const logical: MbrLogicalSpec[] = [
    {
      type: MBR_TYPE.linux,
      ebrLba: mib(state.startMiB - 4),
      firstLba: mib(state.startMiB),
      sectors: mib(state.endMiB! - state.startMiB),
    },
    { type: MBR_TYPE.linux, ebrLba: mib(data.startMiB - 4), firstLba: mib(data.startMiB), sectors: dataSectors },
  ];
  const newP2 = { ...primary(p2), sectors: mib(rootA.endMiB! - rootA.startMiB) };
  const newP3 = { type: MBR_TYPE.linux, firstLba: mib(rootB.startMiB), sectors: mib(rootB.endMiB! - rootB.startMiB) };
  const sig = current.diskSignature;
  const [s, d] = logical as [MbrLogicalSpec, MbrLogicalSpec];
  return {
    data: {
      table: { diskSignature: sig, primary: [primary(p1), primary(p2), primary(p3)], logical },
      kernel: [
        { op: 'del', index: 6 },
        { op: 'del', index: 5 },
        { op: 'del', index: 4 },
        { op: 'add', index: 5, firstLba: s.firstLba, sectors: s.sectors },
        { op: 'add', index: 6, firstLba: d.firstLba, sectors: d.sectors },
      ],
    },
    roots: {
      table: { diskSignature: sig, primary: [primary(p1), newP2, newP3], logical },
      kernel: [
        { op: 'del', index: 3 },
        { op: 'resize', index: 2, firstLba: newP2.firstLba, sectors: newP2.sectors },
        { op: 'add', index: 3, firstLba: newP3.firstLba, sectors: newP3.sectors },
      ],
    },
    partitions: [
      { index: 1, label: 'resin-boot', firstLba: p1.firstLba, sectors: p1.sectors },
      { index: 2, label: 'resin-rootA', firstLba: newP2.firstLba, sectors: newP2.sectors },
      { index: 3, label: 'resin-rootB', firstLba: newP3.firstLba, sectors: newP3.sectors },
      { index: 5, label: 'resin-state', firstLba: s.firstLba, sectors: s.sectors },
      { index: 6, label: 'resin-data', firstLba: d.firstLba, sectors: d.sectors },
    ],
  };
}
