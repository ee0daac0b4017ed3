/**
 * GUID Partition Table (UEFI spec, chapter 5), 512-byte sectors, 128 entries of 128 bytes: the
 * layout every tool and firmware expects. Written without external tools so that images are
 * built without root and byte for byte the same for the same seed.
 */
import { HuplabError } from '../errors.ts';
import { crc32 } from './crc32.ts';
import { guidFromBytes, guidToBytes } from './guid.ts';
import { writeMbrEntry } from './mbr.ts';

export { guidFromSeed, guidToBytes, guidFromBytes } from './guid.ts';

export const SECTOR = 512;
export const GPT_ENTRY_COUNT = 128;
export const GPT_ENTRY_SIZE = 128;
const ENTRY_SECTORS = (GPT_ENTRY_COUNT * GPT_ENTRY_SIZE) / SECTOR;
const HEADER_SIZE = 92;
const SIGNATURE = 'EFI PART';
const REVISION_1_0 = 0x00010000;
/** Protective MBR + header + entries. */
export const GPT_PRIMARY_SECTORS = 2 + ENTRY_SECTORS;
/** Entries + header. */
export const GPT_BACKUP_SECTORS = ENTRY_SECTORS + 1;
const NAME_UNITS = 36;

export const GPT_TYPE = {
  efiSystem: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  linuxFilesystem: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
} as const;

export interface GptPartitionSpec {
  name: string;
  typeGuid: string;
  uniqueGuid: string;
  firstLba: number;
  /** Inclusive. */
  lastLba: number;
  attributes?: bigint;
}

export interface GptSpec {
  diskSizeBytes: number;
  diskGuid: string;
  partitions: GptPartitionSpec[];
}

export interface EncodedGpt {
  /** LBA 0..33: protective MBR, header, entries. Write at offset 0. */
  primary: Buffer;
  /** Entries then header, for the last 33 sectors. */
  backup: Buffer;
  backupOffset: number;
}

export interface GptPartition extends Required<GptPartitionSpec> {
  /** 1-based entry slot: the number Linux gives the partition. */
  index: number;
}

export interface DecodedGpt {
  diskGuid: string;
  firstUsableLba: number;
  lastUsableLba: number;
  /** LBA of the backup header; the last sector of the disk the table was made for. */
  alternateLba: number;
  partitions: GptPartition[];
}

function invalid(message: string): HuplabError {
  return new HuplabError('partition-table-invalid', `GPT: ${message}`, {
    hint: 'fix the partition list passed to encodeGpt',
  });
}

function corrupt(message: string): HuplabError {
  return new HuplabError('gpt-corrupt', `GPT: ${message}`, {
    hint: 'rewrite the partition table (writePartitionTable) or rebuild the image',
  });
}

function encodeEntries(spec: GptSpec, firstUsable: number, lastUsable: number): Buffer {
  if (spec.partitions.length > GPT_ENTRY_COUNT)
    throw invalid(`${spec.partitions.length} partitions, at most ${GPT_ENTRY_COUNT}`);
  const entries = Buffer.alloc(ENTRY_SECTORS * SECTOR);
  const sorted = [...spec.partitions].sort((a, b) => a.firstLba - b.firstLba);
  sorted.forEach((p, i) => {
    const next = sorted[i + 1];
    if (next && next.firstLba <= p.lastLba) throw invalid(`partitions ${p.name} and ${next.name} overlap`);
  });
  spec.partitions.forEach((p, i) => {
    if (!Number.isSafeInteger(p.firstLba) || !Number.isSafeInteger(p.lastLba) || p.lastLba < p.firstLba) {
      throw invalid(`partition ${p.name}: bad range ${p.firstLba}..${p.lastLba}`);
    }
    if (p.firstLba < firstUsable || p.lastLba > lastUsable) {
      throw invalid(
        `partition ${p.name} (${p.firstLba}..${p.lastLba}) is outside the usable sectors ${firstUsable}..${lastUsable}`,
      );
    }
    if (p.name.length > NAME_UNITS)
      throw invalid(`partition name ${JSON.stringify(p.name)} is longer than ${NAME_UNITS} characters`);
    const e = entries.subarray(i * GPT_ENTRY_SIZE, (i + 1) * GPT_ENTRY_SIZE);
    guidToBytes(p.typeGuid).copy(e, 0);
    guidToBytes(p.uniqueGuid).copy(e, 16);
    e.writeBigUInt64LE(BigInt(p.firstLba), 32);
    e.writeBigUInt64LE(BigInt(p.lastLba), 40);
    e.writeBigUInt64LE(p.attributes ?? 0n, 48);
    e.write(p.name, 56, NAME_UNITS * 2, 'utf16le');
  });
  return entries;
}

function encodeHeader(fields: {
  myLba: number;
  alternateLba: number;
  firstUsable: number;
  lastUsable: number;
  diskGuid: string;
  entriesLba: number;
  entriesCrc: number;
}): Buffer {
  const h = Buffer.alloc(SECTOR);
  h.write(SIGNATURE, 0, 'latin1');
  h.writeUInt32LE(REVISION_1_0, 8);
  h.writeUInt32LE(HEADER_SIZE, 12);
  h.writeBigUInt64LE(BigInt(fields.myLba), 24);
  h.writeBigUInt64LE(BigInt(fields.alternateLba), 32);
  h.writeBigUInt64LE(BigInt(fields.firstUsable), 40);
  h.writeBigUInt64LE(BigInt(fields.lastUsable), 48);
  guidToBytes(fields.diskGuid).copy(h, 56);
  h.writeBigUInt64LE(BigInt(fields.entriesLba), 72);
  h.writeUInt32LE(GPT_ENTRY_COUNT, 80);
  h.writeUInt32LE(GPT_ENTRY_SIZE, 84);
  h.writeUInt32LE(fields.entriesCrc, 88);
  h.writeUInt32LE(crc32(h.subarray(0, HEADER_SIZE)), 16);
  return h;
}

export function encodeGpt(spec: GptSpec): EncodedGpt {
  const { diskSizeBytes } = spec;
  if (!Number.isSafeInteger(diskSizeBytes) || diskSizeBytes % SECTOR !== 0) {
    throw invalid(`disk size ${diskSizeBytes} is not a whole number of ${SECTOR}-byte sectors`);
  }
  const totalSectors = diskSizeBytes / SECTOR;
  if (totalSectors < GPT_PRIMARY_SECTORS + GPT_BACKUP_SECTORS + 1)
    throw invalid(`disk of ${diskSizeBytes} bytes is too small`);
  const lastLba = totalSectors - 1;
  const firstUsable = GPT_PRIMARY_SECTORS;
  const lastUsable = lastLba - GPT_BACKUP_SECTORS;
  const backupEntriesLba = lastLba - ENTRY_SECTORS;

  const entries = encodeEntries(spec, firstUsable, lastUsable);
  const entriesCrc = crc32(entries);
  const common = { firstUsable, lastUsable, diskGuid: spec.diskGuid, entriesCrc };

  const pmbr = Buffer.alloc(SECTOR);
  writeMbrEntry(pmbr, 0, { type: 0xee, firstLba: 1, sectors: Math.min(totalSectors - 1, 0xffffffff) });
  pmbr.writeUInt16LE(0xaa55, 510);

  const primary = Buffer.concat([
    pmbr,
    encodeHeader({ ...common, myLba: 1, alternateLba: lastLba, entriesLba: 2 }),
    entries,
  ]);
  const backup = Buffer.concat([
    entries,
    encodeHeader({ ...common, myLba: lastLba, alternateLba: 1, entriesLba: backupEntriesLba }),
  ]);
  return { primary, backup, backupOffset: backupEntriesLba * SECTOR };
}

function u64(buf: Buffer, offset: number, what: string): number {
  const v = buf.readBigUInt64LE(offset);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`${what} ${v} is out of range`);
  return Number(v);
}

/**
 * Reads the primary table. `buf` starts at LBA 0 and must reach the end of the entry array
 * (34 sectors for every table this project writes).
 */
export function decodeGpt(buf: Uint8Array): DecodedGpt {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  if (b.length < 2 * SECTOR) throw corrupt(`need at least 2 sectors, got ${b.length} bytes`);
  const h = b.subarray(SECTOR, 2 * SECTOR);
  if (h.toString('latin1', 0, 8) !== SIGNATURE) throw corrupt('no "EFI PART" signature at LBA 1');
  const headerSize = h.readUInt32LE(12);
  if (headerSize < HEADER_SIZE || headerSize > SECTOR) throw corrupt(`header size ${headerSize} is invalid`);
  const check = Buffer.from(h.subarray(0, headerSize));
  const storedHeaderCrc = check.readUInt32LE(16);
  check.writeUInt32LE(0, 16);
  if (crc32(check) !== storedHeaderCrc) throw corrupt('header CRC mismatch');
  if (u64(h, 24, 'header LBA') !== 1) throw corrupt('primary header does not say it is at LBA 1');

  const entriesLba = u64(h, 72, 'entry array LBA');
  const count = h.readUInt32LE(80);
  const size = h.readUInt32LE(84);
  if (size < GPT_ENTRY_SIZE || size % 8 !== 0 || count > 4096)
    throw corrupt(`entry array of ${count} x ${size} bytes is invalid`);
  const start = entriesLba * SECTOR;
  const end = start + count * size;
  if (end > b.length) throw corrupt(`entry array ends at byte ${end}, beyond the ${b.length} bytes given`);
  const entries = b.subarray(start, end);
  if (crc32(entries) !== h.readUInt32LE(88)) throw corrupt('partition entry array CRC mismatch');

  const partitions: GptPartition[] = [];
  for (let i = 0; i < count; i++) {
    const e = entries.subarray(i * size, (i + 1) * size);
    if (e.subarray(0, 16).every((x) => x === 0)) continue;
    const raw = e.toString('utf16le', 56, 56 + NAME_UNITS * 2);
    const nul = raw.indexOf('\0');
    partitions.push({
      index: i + 1,
      name: nul === -1 ? raw : raw.slice(0, nul),
      typeGuid: guidFromBytes(e.subarray(0, 16)),
      uniqueGuid: guidFromBytes(e.subarray(16, 32)),
      firstLba: u64(e, 32, 'partition start'),
      lastLba: u64(e, 40, 'partition end'),
      attributes: e.readBigUInt64LE(48),
    });
  }
  return {
    diskGuid: guidFromBytes(h.subarray(56, 72)),
    firstUsableLba: u64(h, 40, 'first usable LBA'),
    lastUsableLba: u64(h, 48, 'last usable LBA'),
    alternateLba: u64(h, 32, 'backup header LBA'),
    partitions,
  };
}
