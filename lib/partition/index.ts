/**
 * Partition tables in disk image files: write the table a profile asks for, and read any
 * GPT or MBR image back into byte offsets. Plain positional file I/O, so it works on sparse
 * files without root, loop devices or external tools.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { HuplabError } from '../errors.ts';
import type { FsKind } from '../profile.ts';
import { decodeGpt, encodeGpt, GPT_PRIMARY_SECTORS, GPT_TYPE, guidFromSeed, SECTOR } from './gpt.ts';
import { diskSizeBytes, partitionLayout, type DiskSizeInput, type PartitionSlot } from './layout.ts';
import { encodeMbr, MBR_TYPE, readMbrPartitions, type MbrLogicalSpec, type MbrPartitionSpec } from './mbr.ts';
import { probeFilesystem, PROBE_BYTES } from './probe.ts';

export { partitionLayout, diskSizeBytes, type PartitionSlot } from './layout.ts';

export interface ImagePartition {
  /** Partition number as Linux names it. */
  index: number;
  /** GPT partition name. */
  name?: string;
  /** Filesystem label, when the partition holds a vfat or ext4 filesystem. */
  label?: string;
  fs?: 'vfat' | 'ext4';
  startBytes: number;
  sizeBytes: number;
  /** GPT: type GUID (upper case). MBR: type byte as two hex digits, e.g. "0c", "83". */
  type: string;
}

export function gptTypeFor(label: string): string {
  return label === 'resin-boot' ? GPT_TYPE.efiSystem : GPT_TYPE.linuxFilesystem;
}

export function mbrTypeFor(fs: FsKind): number {
  if (fs === 'vfat') return MBR_TYPE.fat32Lba;
  return fs === 'raw' ? MBR_TYPE.nonFsData : MBR_TYPE.linux;
}

/** Non-zero, as some tools treat a zero signature as "none". */
function diskSignatureFromSeed(seed: string): number {
  const v = createHash('sha256').update(`${seed}:mbr-disk-signature`).digest().readUInt32LE(0);
  return v === 0 ? 1 : v;
}

const lba = (bytes: number): number => bytes / SECTOR;

function tableWrites(
  slots: PartitionSlot[],
  input: DiskSizeInput,
  size: number,
  seed: string,
): Array<{ offset: number; data: Buffer }> {
  if (input.partitionTable === 'gpt') {
    const gpt = encodeGpt({
      diskSizeBytes: size,
      diskGuid: guidFromSeed(`${seed}:disk`),
      partitions: slots.map((s) => ({
        name: s.label,
        typeGuid: gptTypeFor(s.label),
        uniqueGuid: guidFromSeed(`${seed}:partition:${s.label}`),
        firstLba: lba(s.startBytes),
        lastLba: lba(s.startBytes + s.sizeBytes) - 1,
      })),
    });
    return [
      { offset: 0, data: gpt.primary },
      { offset: gpt.backupOffset, data: gpt.backup },
    ];
  }
  const primary: MbrPartitionSpec[] = [];
  const logical: MbrLogicalSpec[] = [];
  for (const s of slots) {
    const p = {
      type: mbrTypeFor(s.fs),
      firstLba: lba(s.startBytes),
      sectors: lba(s.sizeBytes),
      bootable: s.label === 'resin-boot',
    };
    if (s.ebrBytes === undefined) primary.push(p);
    else logical.push({ ...p, ebrLba: lba(s.ebrBytes) });
  }
  const mbr = encodeMbr({ diskSignature: diskSignatureFromSeed(seed), primary, logical });
  // Zero where a GPT would be, so a stale GPT from an earlier build cannot shadow this table.
  const wipeGpt = Buffer.alloc((GPT_PRIMARY_SECTORS - 1) * SECTOR);
  return [{ offset: 0, data: mbr.mbr }, { offset: SECTOR, data: wipeGpt }, ...mbr.ebrs];
}

async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * Creates `imagePath` (or extends it, sparsely) to the profile's disk size and writes the
 * partition table. Partition contents are left alone: the table only touches the sectors
 * before the first partition, the EBR slots and, for GPT, the tail reserved for the backup.
 * The seed makes GUIDs and the disk signature reproducible. Returns the layout it wrote.
 */
export async function writePartitionTable(
  imagePath: string,
  profile: DiskSizeInput,
  seed: string,
): Promise<PartitionSlot[]> {
  const slots = partitionLayout(profile);
  const size = diskSizeBytes(profile);
  const writes = tableWrites(slots, profile, size, seed);
  const fh = await open(imagePath, constants.O_RDWR | constants.O_CREAT, 0o644);
  try {
    const current = (await fh.stat()).size;
    if (current > size) {
      // A GPT backup must sit in the last sectors; truncating could drop data someone put there.
      throw new HuplabError(
        'image-too-large',
        `${imagePath} is ${current} bytes, larger than the ${size} bytes the profile's layout needs`,
        {
          hint: 'start from an empty file or check that the profile matches the image',
        },
      );
    }
    if (current < size) await fh.truncate(size);
    for (const w of writes) await writeAll(fh, w.data, w.offset);
  } finally {
    await fh.close();
  }
  return slots;
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buf.subarray(0, done);
}

/** Partitions of a GPT or MBR disk image, in table order, with filesystem labels probed. */
export async function readPartitions(imagePath: string): Promise<ImagePartition[]> {
  const fh = await open(imagePath, 'r');
  try {
    const head = await readAt(fh, 0, GPT_PRIMARY_SECTORS * SECTOR);
    if (head.length < SECTOR || head.readUInt16LE(510) !== 0xaa55) {
      throw new HuplabError('no-partition-table', `${imagePath}: no partition table (no MBR signature in sector 0)`, {
        hint: 'write one with writePartitionTable or check the image path',
      });
    }
    let parts: ImagePartition[];
    if (head.toString('latin1', SECTOR, SECTOR + 8) === 'EFI PART') {
      parts = decodeGpt(head).partitions.map((p) => ({
        index: p.index,
        name: p.name,
        startBytes: p.firstLba * SECTOR,
        sizeBytes: (p.lastLba - p.firstLba + 1) * SECTOR,
        type: p.typeGuid,
      }));
    } else {
      const { partitions } = await readMbrPartitions((n) => readAt(fh, n * SECTOR, SECTOR));
      parts = partitions
        .filter((p) => !p.isExtended)
        .map((p) => ({
          index: p.index,
          startBytes: p.firstLba * SECTOR,
          sizeBytes: p.sectors * SECTOR,
          type: p.type.toString(16).padStart(2, '0'),
        }));
    }
    for (const p of parts) {
      const probed = probeFilesystem(await readAt(fh, p.startBytes, PROBE_BYTES));
      if (probed) {
        p.fs = probed.fs;
        if (probed.label !== undefined) p.label = probed.label;
      }
    }
    return parts;
  } catch (err) {
    if (err instanceof HuplabError && !err.message.startsWith(imagePath)) {
      throw new HuplabError(err.code, `${imagePath}: ${err.message}`, {
        ...(err.hint ? { hint: err.hint } : {}),
        cause: err,
      });
    }
    throw err;
  } finally {
    await fh.close();
  }
}
