/**
 * DOS (MBR) partition tables, as balenaOS uses them on the Raspberry Pi: three primary
 * partitions, the fourth slot an extended partition, and logical partitions described by a
 * chain of EBRs. 512-byte sectors; 32-bit LBAs, so disks up to 2 TiB.
 */
import { HuplabError } from '../errors.ts';

const SECTOR = 512;
const TABLE_OFFSET = 446;
const MAX_LBA = 0xffffffff;

export const MBR_TYPE = {
  fat32Lba: 0x0c,
  linux: 0x83,
  /** Non-filesystem data, for vendor raw partitions. */
  nonFsData: 0xda,
  extendedLba: 0x0f,
  /** Link to the next EBR inside an EBR. */
  extendedChs: 0x05,
  gptProtective: 0xee,
} as const;

export interface MbrPartitionSpec {
  type: number;
  firstLba: number;
  sectors: number;
  bootable?: boolean;
}

export interface MbrLogicalSpec extends MbrPartitionSpec {
  /** Where the EBR describing this partition goes; before firstLba, after the previous one. */
  ebrLba: number;
}

export interface MbrSpec {
  diskSignature: number;
  /** At most four, or three when there are logical partitions (slot 4 is then the extended). */
  primary: MbrPartitionSpec[];
  logical?: MbrLogicalSpec[];
}

export interface EncodedMbr {
  /** Sector 0. */
  mbr: Buffer;
  /** One sector per logical partition, at `offset` bytes. */
  ebrs: Array<{ offset: number; data: Buffer }>;
}

export interface MbrEntry {
  /** Partition number as Linux gives it: 1-4 for primary slots, 5.. for logical ones. */
  index: number;
  type: number;
  bootable: boolean;
  firstLba: number;
  sectors: number;
  /** The extended container itself, which holds no filesystem. */
  isExtended: boolean;
}

function invalid(message: string): HuplabError {
  return new HuplabError('partition-table-invalid', `MBR: ${message}`, {
    hint: 'fix the partition list passed to encodeMbr',
  });
}

function corrupt(message: string): HuplabError {
  return new HuplabError('mbr-corrupt', `MBR: ${message}`, {
    hint: 'rewrite the partition table (writePartitionTable) or rebuild the image',
  });
}

/** CHS with the customary 255 heads x 63 sectors geometry, saturating as every tool does. */
function chs(lba: number): [number, number, number] {
  const perCylinder = 255 * 63;
  let c = Math.floor(lba / perCylinder);
  let h = Math.floor(lba / 63) % 255;
  let s = (lba % 63) + 1;
  if (c > 1023) [c, h, s] = [1023, 254, 63];
  return [h, (s & 0x3f) | ((c >> 2) & 0xc0), c & 0xff];
}

function isExtendedType(type: number): boolean {
  return type === 0x05 || type === 0x0f || type === 0x85;
}

/** Writes one 16-byte entry into the table of `sector` (slot 0-3). LBAs relative as given. */
export function writeMbrEntry(
  sector: Buffer,
  slot: number,
  p: MbrPartitionSpec,
  absoluteFirstLba: number = p.firstLba,
): void {
  const at = TABLE_OFFSET + slot * 16;
  sector[at] = p.bootable ? 0x80 : 0x00;
  Buffer.from(chs(absoluteFirstLba)).copy(sector, at + 1);
  sector[at + 4] = p.type;
  Buffer.from(chs(absoluteFirstLba + p.sectors - 1)).copy(sector, at + 5);
  sector.writeUInt32LE(p.firstLba, at + 8);
  sector.writeUInt32LE(p.sectors, at + 12);
}

function checkRange(what: string, p: MbrPartitionSpec): void {
  if (!Number.isInteger(p.type) || p.type <= 0 || p.type > 0xff) throw invalid(`${what}: type ${p.type} is not a byte`);
  if (!Number.isInteger(p.firstLba) || !Number.isInteger(p.sectors) || p.firstLba < 1 || p.sectors < 1) {
    throw invalid(`${what}: bad range start ${p.firstLba}, ${p.sectors} sectors`);
  }
  if (p.firstLba + p.sectors - 1 > MAX_LBA) throw invalid(`${what} ends beyond 2 TiB, which MBR cannot address`);
}

export function encodeMbr(spec: MbrSpec): EncodedMbr {
  const logical = spec.logical ?? [];
  const maxPrimary = logical.length ? 3 : 4;
  if (spec.primary.length > maxPrimary) {
    throw invalid(
      `${spec.primary.length} primary partitions, at most ${maxPrimary}${logical.length ? ' with logical partitions' : ''}`,
    );
  }
  for (const [i, p] of spec.primary.entries()) checkRange(`partition ${i + 1}`, p);
  let previousEnd = 0;
  logical.forEach((p, i) => {
    checkRange(`partition ${i + 5}`, p);
    if (!Number.isInteger(p.ebrLba) || p.ebrLba <= previousEnd || p.ebrLba >= p.firstLba) {
      throw invalid(
        `partition ${i + 5}: its EBR at LBA ${p.ebrLba} must lie after the previous partition and before its start`,
      );
    }
    previousEnd = p.firstLba + p.sectors - 1;
  });

  const mbr = Buffer.alloc(SECTOR);
  mbr.writeUInt32LE(spec.diskSignature >>> 0, 440);
  for (const [i, p] of spec.primary.entries()) writeMbrEntry(mbr, i, p);

  const ebrs: EncodedMbr['ebrs'] = [];
  const first = logical[0];
  const last = logical[logical.length - 1];
  if (first && last) {
    const extStart = first.ebrLba;
    const extEnd = last.firstLba + last.sectors;
    for (const p of spec.primary) {
      if (p.firstLba < extEnd && p.firstLba + p.sectors > extStart)
        throw invalid('a primary partition overlaps the logical ones');
    }
    writeMbrEntry(mbr, spec.primary.length, {
      type: MBR_TYPE.extendedLba,
      firstLba: extStart,
      sectors: extEnd - extStart,
    });
    logical.forEach((p, i) => {
      const ebr = Buffer.alloc(SECTOR);
      // The logical partition is relative to its own EBR, the link relative to the extended start.
      writeMbrEntry(ebr, 0, { ...p, firstLba: p.firstLba - p.ebrLba }, p.firstLba);
      const next = logical[i + 1];
      if (next) {
        const link = {
          type: MBR_TYPE.extendedChs,
          firstLba: next.ebrLba - extStart,
          sectors: next.firstLba + next.sectors - next.ebrLba,
        };
        writeMbrEntry(ebr, 1, link, next.ebrLba);
      }
      ebr.writeUInt16LE(0xaa55, 510);
      ebrs.push({ offset: p.ebrLba * SECTOR, data: ebr });
    });
  }
  // Primary partitions must not overlap each other either.
  const ranges = [...spec.primary].sort((a, b) => a.firstLba - b.firstLba);
  ranges.forEach((p, i) => {
    const next = ranges[i + 1];
    if (next && next.firstLba < p.firstLba + p.sectors) throw invalid('primary partitions overlap');
  });
  mbr.writeUInt16LE(0xaa55, 510);
  return { mbr, ebrs };
}

function readEntry(sector: Buffer, slot: number): MbrPartitionSpec | undefined {
  const at = TABLE_OFFSET + slot * 16;
  const type = sector[at + 4]!;
  const sectors = sector.readUInt32LE(at + 12);
  if (type === 0 || sectors === 0) return undefined;
  return { type, bootable: sector[at] === 0x80, firstLba: sector.readUInt32LE(at + 8), sectors };
}

function sectorOf(buf: Uint8Array, what: string): Buffer {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  if (b.length < SECTOR) throw corrupt(`${what} is ${b.length} bytes, expected ${SECTOR}`);
  if (b.readUInt16LE(510) !== 0xaa55) throw corrupt(`${what} has no 55 AA signature`);
  return b;
}

/** The four primary slots of sector 0 (empty slots skipped). */
export function decodeMbr(sector0: Uint8Array): { diskSignature: number; entries: MbrEntry[] } {
  const b = sectorOf(sector0, 'sector 0');
  const entries: MbrEntry[] = [];
  for (let slot = 0; slot < 4; slot++) {
    const e = readEntry(b, slot);
    if (e)
      entries.push({
        index: slot + 1,
        type: e.type,
        bootable: !!e.bootable,
        firstLba: e.firstLba,
        sectors: e.sectors,
        isExtended: isExtendedType(e.type),
      });
  }
  return { diskSignature: b.readUInt32LE(440), entries };
}

/** One EBR: its logical partition (absolute LBAs) and the absolute LBA of the next EBR. */
export function decodeEbr(
  sector: Uint8Array,
  ebrLba: number,
  extendedStartLba: number,
): { logical?: MbrPartitionSpec; nextEbrLba?: number } {
  const b = sectorOf(sector, `EBR at LBA ${ebrLba}`);
  const own = readEntry(b, 0);
  const link = readEntry(b, 1);
  const out: { logical?: MbrPartitionSpec; nextEbrLba?: number } = {};
  if (own) out.logical = { ...own, firstLba: ebrLba + own.firstLba };
  if (link && isExtendedType(link.type)) out.nextEbrLba = extendedStartLba + link.firstLba;
  return out;
}

/** Every partition of the disk, following the EBR chain through `readSector`. */
export async function readMbrPartitions(
  readSector: (lba: number) => Promise<Uint8Array>,
): Promise<{ diskSignature: number; partitions: MbrEntry[] }> {
  const { diskSignature, entries } = decodeMbr(await readSector(0));
  const partitions = [...entries];
  const ext = entries.find((e) => e.isExtended);
  if (ext) {
    const extEnd = ext.firstLba + ext.sectors;
    let ebrLba: number | undefined = ext.firstLba;
    let index = 5;
    // Each link must move forward inside the container, so a corrupt chain cannot loop.
    while (ebrLba !== undefined) {
      if (ebrLba < ext.firstLba || ebrLba >= extEnd)
        throw corrupt(`EBR at LBA ${ebrLba} is outside the extended partition`);
      const { logical, nextEbrLba }: ReturnType<typeof decodeEbr> = decodeEbr(
        await readSector(ebrLba),
        ebrLba,
        ext.firstLba,
      );
      if (logical) {
        partitions.push({
          index: index++,
          type: logical.type,
          bootable: !!logical.bootable,
          firstLba: logical.firstLba,
          sectors: logical.sectors,
          isExtended: false,
        });
      }
      if (nextEbrLba !== undefined && nextEbrLba <= ebrLba) throw corrupt(`EBR chain goes backwards at LBA ${ebrLba}`);
      ebrLba = nextEbrLba;
    }
  }
  return { diskSignature, partitions };
}
