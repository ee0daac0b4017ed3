/**
 * Where each partition of a profile lands on the disk. The image builder places filesystems at
 * these offsets and the partition table describes the same numbers, so there is one function
 * that decides them.
 *
 * Rules (balenaOS style): the first partition starts at alignMiB, every start is aligned to
 * alignMiB. On MBR with more than four partitions, slot 4 is an extended partition and the rest
 * are logical partitions numbered from 5, each preceded by its EBR, which takes an alignMiB slot
 * of its own so that the logical partition itself stays aligned.
 */
export const MiB = 1024 * 1024;

// A profile's partitions (lib/profile.ts re-exports these types): they are defined here, not
// there, so that the layout does not import the profile that imports it.
export type FsKind = 'vfat' | 'ext4' | 'raw';
export type PartitionTableKind = 'gpt' | 'mbr';

export interface PartitionSpec {
  label: string;
  fs: FsKind;
  sizeMiB: number;
}

export interface PartitionSlot {
  /** Partition number as the OS names it (sda<index>, mmcblk0p<index>). */
  index: number;
  label: string;
  fs: FsKind;
  startBytes: number;
  sizeBytes: number;
  /** MBR logical partitions only: byte offset of the EBR that describes it. */
  ebrBytes?: number;
}

/** The fields of a Profile that decide the layout. */
export interface LayoutInput {
  partitionTable: PartitionTableKind;
  partitions: PartitionSpec[];
  alignMiB: number;
}
export type DiskSizeInput = LayoutInput & { qemu?: { disk: { interface: string } } | undefined };

/** MBR has four slots; beyond that the fourth becomes the extended container. */
export function usesExtended(input: LayoutInput): boolean {
  return input.partitionTable === 'mbr' && input.partitions.length > 4;
}

function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}

export function partitionLayout(input: LayoutInput): PartitionSlot[] {
  const align = input.alignMiB * MiB;
  const extended = usesExtended(input);
  const slots: PartitionSlot[] = [];
  let cursor = align;
  input.partitions.forEach((p, i) => {
    const logical = extended && i >= 3;
    const slot: PartitionSlot = {
      index: logical ? i + 2 : i + 1,
      label: p.label,
      fs: p.fs,
      startBytes: 0,
      sizeBytes: p.sizeMiB * MiB,
    };
    if (logical) {
      slot.ebrBytes = alignUp(cursor, align);
      slot.startBytes = slot.ebrBytes + align;
    } else {
      slot.startBytes = alignUp(cursor, align);
    }
    cursor = slot.startBytes + slot.sizeBytes;
    slots.push(slot);
  });
  return slots;
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export function diskSizeBytes(input: DiskSizeInput): number {
  const align = input.alignMiB * MiB;
  const slots = partitionLayout(input);
  const last = slots[slots.length - 1];
  let size = alignUp(last ? last.startBytes + last.sizeBytes : align, align);
  // The backup GPT (entries + header, 33 sectors) lives in the last sectors of the disk.
  if (input.partitionTable === 'gpt') size += align;
  // QEMU refuses SD card images whose size is not a power of two.
  if (input.qemu?.disk.interface === 'sd') size = nextPowerOfTwo(size);
  return size;
}
