/**
 * The resinOS 1.x partition layout, and what each of its partitions becomes in the 2.x layout
 * when a device is migrated (the field's upgrade-1.x-to-2.x.sh). One definition for the profile
 * check, the release recipes, the update method, the builder and the updater.
 *
 * 1.x (MBR, 4 MiB alignment): p1 resin-boot (vfat, 40 MiB), p2 resin-root (the running,
 * read-write root), p3 resin-updt (the spare root, the same size), p4 the extended partition,
 * p5 resin-conf (ext4 from 1.12: config.json lived here up to 1.11), p6 resin-data (btrfs in the
 * field; ext4 here, which changes nothing the update path relies on).
 */

/** The layout id of the 1.x OS line (a profile's and a release recipe's `layout`). */
export const LAYOUT_1X = 'resin-1x';
/** The layout id of the 2.x A/B line that a 1.x device is migrated to. */
export const LAYOUT_2X = 'balena-ab-v1';

export const RESIN_1X_PARTITIONS = [
  { label: 'resin-boot', fs: 'vfat' },
  { label: 'resin-root', fs: 'ext4' },
  { label: 'resin-updt', fs: 'ext4' },
  { label: 'resin-conf', fs: 'ext4' },
  { label: 'resin-data', fs: 'ext4' },
] as const;

/**
 * The labels of the two roots the bootloader switches between ("A" and "B" in its env): on the
 * 2.x line resin-rootA and resin-rootB; on 1.x the running root resin-root (A, partition 2) and
 * the spare root resin-updt (B, partition 3).
 */
export function rootLabels(layout: string | undefined): { A: string; B: string } {
  return layout === LAYOUT_1X ? { A: 'resin-root', B: 'resin-updt' } : { A: 'resin-rootA', B: 'resin-rootB' };
}

/** The field's sizes, MiB: the spare root is what bounds the /data backup of the migration. */
export const RESIN_1X_SIZES_MIB = { boot: 40, root: 176, conf: 20 } as const;

/**
 * What each 1.x partition becomes in 2.x (by label), and where the 2.x partition lies on the
 * same disk, MiB from its start (`end` undefined: to the end of the disk).
 */
export const MIGRATION_1X_TO_2X = [
  { from: 'resin-boot', to: 'resin-boot', startMiB: 4, endMiB: 44 },
  { from: 'resin-root', to: 'resin-rootA', startMiB: 44, endMiB: 356 },
  { from: 'resin-updt', to: 'resin-rootB', startMiB: 356, endMiB: 668 },
  { from: 'resin-conf', to: 'resin-state', startMiB: 672, endMiB: 692 },
  { from: 'resin-data', to: 'resin-data', startMiB: 696, endMiB: undefined },
] as const;

/**
 * The field's limit on the compressed /data backup: the gzipped tarball must fit the spare root
 * (about 176 MiB, less the filesystem's own room), which the documentation rounds to 170 MB.
 */
export const DATA_BACKUP_LIMIT_BYTES = 170 * 1000 * 1000;

/** Where a 1.x release keeps config.json: on resin-conf up to 1.11, on resin-boot from 1.12. */
export function configJsonPlace1x(version: string): { partition: 'resin-conf' | 'resin-boot'; mount: string } {
  const [major, minor] = version.split('.').map((n) => Number(n) || 0);
  return major === 1 && (minor ?? 0) < 12
    ? { partition: 'resin-conf', mount: '/mnt/conf' }
    : { partition: 'resin-boot', mount: '/mnt/boot' };
}
