/**
 * Recognises the filesystems huplab puts on its partitions and reads their labels. MBR has no
 * partition names, so on a Raspberry Pi image the labels (resin-boot, resin-rootA, ...) exist
 * only inside the filesystems; this is what lets the harness find a partition by label in any
 * image without mounting it.
 */

/** Bytes from the start of a partition that `probeFilesystem` needs. */
export const PROBE_BYTES = 2048;

export interface ProbedFs {
  fs: 'vfat' | 'ext4';
  label?: string;
}

const EXT_SUPERBLOCK = 1024;
const EXT_MAGIC = 0xef53;

function trimLabel(raw: string): string | undefined {
  const label = raw.replace(/\0.*$/s, '').trimEnd();
  return label === '' || label === 'NO NAME' ? undefined : label;
}

export function probeFilesystem(head: Uint8Array): ProbedFs | undefined {
  const b = Buffer.from(head.buffer, head.byteOffset, head.length);
  if (b.length >= EXT_SUPERBLOCK + 136 && b.readUInt16LE(EXT_SUPERBLOCK + 56) === EXT_MAGIC) {
    // ext2/3/4 share the superblock; the project only makes ext4, so the label is what matters.
    const label = trimLabel(b.toString('utf8', EXT_SUPERBLOCK + 120, EXT_SUPERBLOCK + 136));
    return label === undefined ? { fs: 'ext4' } : { fs: 'ext4', label };
  }
  if (b.length >= 512 && b.readUInt16LE(510) === 0xaa55) {
    // The extended BPB sits at a different offset for FAT32 than for FAT12/16; 0x29 marks it.
    for (const [sigAt, labelAt, typeAt] of [
      [66, 71, 82],
      [38, 43, 54],
    ] as const) {
      if (b[sigAt] === 0x29 && b.toString('latin1', typeAt, typeAt + 3) === 'FAT') {
        const label = trimLabel(b.toString('latin1', labelAt, labelAt + 11));
        return label === undefined ? { fs: 'vfat' } : { fs: 'vfat', label };
      }
    }
  }
  return undefined;
}
