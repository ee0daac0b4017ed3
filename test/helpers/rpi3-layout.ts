import type { PartitionSpec } from '../../lib/profile.ts';

/** The balenaOS Raspberry Pi 3 partitions (hup-reference sizes, data scaled down) for MBR tests. */
export const RPI3_PARTITIONS: PartitionSpec[] = [
  { label: 'resin-boot', fs: 'vfat', sizeMiB: 40 },
  { label: 'resin-rootA', fs: 'ext4', sizeMiB: 320 },
  { label: 'resin-rootB', fs: 'ext4', sizeMiB: 320 },
  { label: 'resin-state', fs: 'ext4', sizeMiB: 20 },
  { label: 'resin-data', fs: 'ext4', sizeMiB: 64 },
];
