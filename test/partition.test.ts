import { RPI3_PARTITIONS } from './helpers/rpi3-layout.ts';
import t, { type Test } from 'tap';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { loadProfile } from '../lib/profile.ts';
import { diskSizeBytes, partitionLayout, type DiskSizeInput } from '../lib/partition/layout.ts';
import { readPartitions, writePartitionTable } from '../lib/partition/index.ts';
import { decodeGpt, encodeGpt, GPT_TYPE, guidFromBytes, guidFromSeed, guidToBytes } from '../lib/partition/gpt.ts';
import { decodeMbr, encodeMbr, readMbrPartitions } from '../lib/partition/mbr.ts';
import { crc32, crc32Table } from '../lib/partition/crc32.ts';

const MiB = 1024 * 1024;
const SECTOR = 512;

const rpi3: DiskSizeInput = {
  partitionTable: 'mbr',
  alignMiB: 4,
  qemu: { disk: { interface: 'sd' } },
  partitions: RPI3_PARTITIONS.map((p) => ({ ...p })),
};

interface SfdiskPart {
  node: string;
  start: number;
  size: number;
  type: string;
  uuid?: string;
  name?: string;
  bootable?: boolean;
}
interface SfdiskTable {
  label: string;
  id: string;
  firstlba?: number;
  lastlba?: number;
  partitions: SfdiskPart[];
}

async function sfdiskJson(file: string): Promise<SfdiskTable> {
  const { stdout } = await execa('sfdisk', ['-J', file]);
  return (JSON.parse(stdout) as { partitiontable: SfdiskTable }).partitiontable;
}

async function sfdiskVerify(t: Test, file: string): Promise<void> {
  const r = await execa('sfdisk', ['--verify', file], { reject: false });
  t.equal(r.exitCode, 0, 'sfdisk --verify exits 0');
  t.match(r.stdout, /No errors detected/);
  t.notMatch(`${r.stdout}\n${r.stderr}`, /warning|error:|mismatch|overlap|corrupt/i);
}

t.test('crc32: native and table versions agree with the standard check value', async (t) => {
  const check = Buffer.from('123456789');
  t.equal(crc32(check), 0xcbf43926);
  t.equal(crc32Table(check), 0xcbf43926);
  t.equal(crc32Table(Buffer.alloc(0)), 0);
  const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 131 + 7) & 0xff));
  t.equal(crc32Table(data), crc32(data));
});

t.test('GUIDs: mixed-endian on disk, reproducible from a seed', async (t) => {
  const esp = guidToBytes(GPT_TYPE.efiSystem);
  t.equal(esp.toString('hex'), '28732ac11ff8d211ba4b00a0c93ec93b');
  t.equal(guidFromBytes(esp), GPT_TYPE.efiSystem);
  t.equal(guidFromBytes(guidToBytes(GPT_TYPE.linuxFilesystem.toLowerCase())), GPT_TYPE.linuxFilesystem);
  const a = guidFromSeed('image-1:disk');
  t.equal(guidFromSeed('image-1:disk'), a, 'same seed, same GUID');
  t.not(guidFromSeed('image-2:disk'), a, 'other seed, other GUID');
  t.match(a, /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
  t.throws(() => guidToBytes('not-a-guid'), { code: 'guid-invalid' });
});

t.test('layout of generic-amd64: 4 MiB aligned, GPT tail reserved', async (t) => {
  const profile = await loadProfile('generic-amd64');
  const slots = partitionLayout(profile);
  t.same(
    slots.map((s) => [s.index, s.label, s.fs, s.startBytes / MiB, s.sizeBytes / MiB]),
    [
      [1, 'resin-boot', 'vfat', 4, 64],
      [2, 'resin-rootA', 'ext4', 68, 384],
      [3, 'resin-rootB', 'ext4', 452, 384],
      [4, 'resin-state', 'ext4', 836, 20],
      [5, 'resin-data', 'ext4', 856, 256],
    ],
  );
  t.equal(diskSizeBytes(profile), (856 + 256 + 4) * MiB);
  t.notOk(
    slots.some((s) => 'ebrBytes' in s),
    'no EBRs on GPT',
  );
});

t.test('layout: unaligned sizes push the next start to the boundary', async (t) => {
  const slots = partitionLayout({
    partitionTable: 'gpt',
    alignMiB: 4,
    partitions: [
      { label: 'resin-boot', fs: 'vfat', sizeMiB: 9 },
      { label: 'resin-rootA', fs: 'ext4', sizeMiB: 8 },
    ],
  });
  t.same(
    slots.map((s) => s.startBytes / MiB),
    [4, 16],
  );
});

t.test('layout of a Pi-style MBR: extended slot 4, logical 5 and 6 behind their EBRs', async (t) => {
  const slots = partitionLayout(rpi3);
  t.same(
    slots.map((s) => [
      s.index,
      s.label,
      s.startBytes / MiB,
      s.sizeBytes / MiB,
      s.ebrBytes === undefined ? null : s.ebrBytes / MiB,
    ]),
    [
      [1, 'resin-boot', 4, 40, null],
      [2, 'resin-rootA', 44, 320, null],
      [3, 'resin-rootB', 364, 320, null],
      [5, 'resin-state', 688, 20, 684],
      [6, 'resin-data', 712, 64, 708],
    ],
  );
  // 776 MiB of partitions; QEMU's SD card wants a power of two.
  t.equal(diskSizeBytes(rpi3), 1024 * MiB);
  t.equal(diskSizeBytes({ ...rpi3, qemu: { disk: { interface: 'virtio' } } }), 776 * MiB);
  t.equal(diskSizeBytes({ ...rpi3, qemu: undefined }), 776 * MiB);
});

t.test('generic-amd64 GPT, checked by sfdisk', async (t) => {
  const profile = await loadProfile('generic-amd64');
  const file = path.join(t.testdir(), 'disk.img');
  const slots = await writePartitionTable(file, profile, 'seed-1');
  const st = await stat(file);
  t.equal(st.size, diskSizeBytes(profile));
  t.ok(st.blocks * 512 < 1 * MiB, `file stays sparse (${st.blocks * 512} bytes allocated)`);

  const table = await sfdiskJson(file);
  t.equal(table.label, 'gpt');
  t.equal(table.id, guidFromSeed('seed-1:disk'));
  t.equal(table.firstlba, 34);
  t.equal(table.lastlba, diskSizeBytes(profile) / SECTOR - 34);
  t.same(
    table.partitions.map((p) => ({
      node: p.node,
      start: p.start,
      size: p.size,
      type: p.type,
      name: p.name,
      uuid: p.uuid,
    })),
    slots.map((s) => ({
      node: `${file}${s.index}`,
      start: s.startBytes / SECTOR,
      size: s.sizeBytes / SECTOR,
      type: s.label === 'resin-boot' ? 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' : '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
      name: s.label,
      uuid: guidFromSeed(`seed-1:partition:${s.label}`),
    })),
  );
  t.same(
    table.partitions.map((p) => p.start),
    [8192, 139264, 925696, 1712128, 1753088],
  );
  await sfdiskVerify(t, file);

  t.same(
    (await readPartitions(file)).map((p) => [p.index, p.name, p.startBytes, p.sizeBytes, p.type, p.label]),
    slots.map((s) => [s.index, s.label, s.startBytes, s.sizeBytes, table.partitions[s.index - 1]!.type, undefined]),
  );
});

t.test('same seed gives the same bytes, another seed other GUIDs', async (t) => {
  const profile = await loadProfile('generic-amd64');
  const dir = t.testdir();
  const [a, b, c] = ['a.img', 'b.img', 'c.img'].map((f) => path.join(dir, f)) as [string, string, string];
  await writePartitionTable(a, profile, 'same');
  await writePartitionTable(b, profile, 'same');
  await writePartitionTable(c, profile, 'other');
  const head = async (f: string) => {
    const fh = await open(f, 'r');
    const buf = Buffer.alloc(34 * SECTOR);
    await fh.read(buf, 0, buf.length, 0);
    await fh.close();
    return buf;
  };
  t.ok((await head(a)).equals(await head(b)));
  t.notOk((await head(a)).equals(await head(c)));
});

t.test('Raspberry Pi 3 style MBR, checked by sfdisk', async (t) => {
  const file = path.join(t.testdir(), 'sd.img');
  const slots = await writePartitionTable(file, rpi3, 'seed-1');
  t.equal((await stat(file)).size, 1024 * MiB);
  const table = await sfdiskJson(file);
  t.equal(table.label, 'dos');
  t.match(table.id, /^0x[0-9a-f]{8}$/);
  t.not(table.id, '0x00000000');
  t.same(
    table.partitions.map((p) => [p.node, p.start, p.size, p.type, p.bootable ?? false]),
    [
      [`${file}1`, 8192, 81920, 'c', true],
      [`${file}2`, 90112, 655360, '83', false],
      [`${file}3`, 745472, 655360, '83', false],
      [`${file}4`, 684 * 2048, (776 - 684) * 2048, 'f', false],
      [`${file}5`, 688 * 2048, 20 * 2048, '83', false],
      [`${file}6`, 712 * 2048, 64 * 2048, '83', false],
    ],
  );
  await sfdiskVerify(t, file);
  t.same(
    (await readPartitions(file)).map((p) => [p.index, p.startBytes, p.sizeBytes, p.type]),
    slots.map((s) => [s.index, s.startBytes, s.sizeBytes, s.fs === 'vfat' ? '0c' : '83']),
  );
});

t.test('readPartitions finds filesystem labels on MBR, and the table leaves partition data alone', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'sd.img');
  const slots = partitionLayout(rpi3);
  const boot = slots[0]!;
  const state = slots[3]!;
  // Data first, table second: the table must not overwrite any partition.
  const bootFs = path.join(dir, 'boot.fat');
  await execa('mkfs.vfat', ['-F', '32', '-n', 'RESIN-BOOT', '-C', bootFs, String(boot.sizeBytes / 1024)]);
  const stateFs = path.join(dir, 'state.ext4');
  await execa('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'resin-state', stateFs, `${state.sizeBytes / 1024}k`]);
  const fh = await open(file, 'w');
  await fh.write(await readFile(bootFs), 0, undefined, boot.startBytes);
  await fh.write(await readFile(stateFs), 0, undefined, state.startBytes);
  await fh.close();
  const before = await readFile(stateFs);

  await writePartitionTable(file, rpi3, 'seed');
  const parts = await readPartitions(file);
  t.same(
    parts.map((p) => [p.index, p.fs, p.label]),
    [
      [1, 'vfat', 'RESIN-BOOT'],
      [2, undefined, undefined],
      [3, undefined, undefined],
      [5, 'ext4', 'resin-state'],
      [6, undefined, undefined],
    ],
  );
  const img = await open(file, 'r');
  const after = Buffer.alloc(before.length);
  await img.read(after, 0, after.length, state.startBytes);
  await img.close();
  t.ok(after.equals(before), 'resin-state content unchanged');
});

t.test('writePartitionTable refuses an image larger than the layout', async (t) => {
  const file = path.join(t.testdir(), 'big.img');
  const fh = await open(file, 'w');
  await fh.truncate(diskSizeBytes(rpi3) + SECTOR);
  await fh.close();
  await t.rejects(writePartitionTable(file, rpi3, 's'), { code: 'image-too-large', message: /big\.img/ });
});

t.test('readPartitions on a blank file says there is no table', async (t) => {
  const file = path.join(t.testdir(), 'blank.img');
  await writeFile(file, Buffer.alloc(64 * 1024));
  await t.rejects(readPartitions(file), { code: 'no-partition-table', message: /blank\.img/ });
});

t.test('decodeGpt rejects corrupted CRCs and signatures', async (t) => {
  const gpt = encodeGpt({
    diskSizeBytes: 64 * MiB,
    diskGuid: guidFromSeed('d'),
    partitions: [
      {
        name: 'resin-boot',
        typeGuid: GPT_TYPE.efiSystem,
        uniqueGuid: guidFromSeed('p'),
        firstLba: 2048,
        lastLba: 4095,
      },
    ],
  });
  const decoded = decodeGpt(gpt.primary);
  t.equal(decoded.partitions.length, 1);
  t.match(decoded.partitions[0], {
    index: 1,
    name: 'resin-boot',
    firstLba: 2048,
    lastLba: 4095,
    typeGuid: GPT_TYPE.efiSystem,
  });
  t.equal(decoded.alternateLba, (64 * MiB) / SECTOR - 1);

  const badHeader = Buffer.from(gpt.primary);
  badHeader[512 + 40] = badHeader[512 + 40]! ^ 1; // first usable LBA
  t.throws(() => decodeGpt(badHeader), { code: 'gpt-corrupt', message: /header CRC/ });

  const badEntries = Buffer.from(gpt.primary);
  badEntries[1024 + 56] = badEntries[1024 + 56]! ^ 1; // a character of the name
  t.throws(() => decodeGpt(badEntries), { code: 'gpt-corrupt', message: /entry array CRC/ });

  const badSig = Buffer.from(gpt.primary);
  badSig.write('EFI PARX', 512, 'latin1');
  t.throws(() => decodeGpt(badSig), { code: 'gpt-corrupt', message: /signature/ });

  t.throws(() => decodeGpt(gpt.primary.subarray(0, 10 * SECTOR)), { code: 'gpt-corrupt', message: /beyond/ });
});

t.test('backup GPT mirrors the primary with its own header CRC', async (t) => {
  const size = 64 * MiB;
  const gpt = encodeGpt({ diskSizeBytes: size, diskGuid: guidFromSeed('d'), partitions: [] });
  t.equal(gpt.backup.length, 33 * SECTOR);
  t.equal(gpt.backupOffset + gpt.backup.length, size);
  const header = gpt.backup.subarray(32 * SECTOR);
  t.equal(header.toString('latin1', 0, 8), 'EFI PART');
  t.equal(Number(header.readBigUInt64LE(24)), size / SECTOR - 1, 'backup header at the last LBA');
  t.equal(Number(header.readBigUInt64LE(32)), 1, 'points back at the primary');
  t.equal(Number(header.readBigUInt64LE(72)), size / SECTOR - 33, 'entries just before it');
  const check = Buffer.from(header.subarray(0, 92));
  const stored = check.readUInt32LE(16);
  check.writeUInt32LE(0, 16);
  t.equal(crc32(check), stored);
});

t.test('encodeGpt rejects overlapping or out-of-range partitions', async (t) => {
  const base = { diskSizeBytes: 64 * MiB, diskGuid: guidFromSeed('d') };
  const p = (name: string, firstLba: number, lastLba: number) => ({
    name,
    typeGuid: GPT_TYPE.linuxFilesystem,
    uniqueGuid: guidFromSeed(name),
    firstLba,
    lastLba,
  });
  t.throws(() => encodeGpt({ ...base, partitions: [p('a', 2048, 4095), p('b', 4095, 8191)] }), {
    code: 'partition-table-invalid',
    message: /overlap/,
  });
  t.throws(() => encodeGpt({ ...base, partitions: [p('a', 33, 4095)] }), {
    code: 'partition-table-invalid',
    message: /outside/,
  });
  t.throws(() => encodeGpt({ ...base, partitions: [p('a', 2048, (64 * MiB) / SECTOR - 33)] }), {
    code: 'partition-table-invalid',
    message: /outside/,
  });
  t.throws(() => encodeGpt({ ...base, partitions: [p('x'.repeat(37), 2048, 4095)] }), {
    code: 'partition-table-invalid',
    message: /longer/,
  });
  t.throws(() => encodeGpt({ ...base, diskSizeBytes: 64 * MiB + 1, partitions: [] }), {
    code: 'partition-table-invalid',
  });
});

t.test('encodeMbr refuses a fourth primary next to logical partitions, and misplaced EBRs', async (t) => {
  const prim = (firstLba: number) => ({ type: 0x83, firstLba, sectors: 2048 });
  t.throws(
    () =>
      encodeMbr({
        diskSignature: 1,
        primary: [prim(2048), prim(4096), prim(6144), prim(8192)],
        logical: [{ ...prim(12288), ebrLba: 10240 }],
      }),
    { code: 'partition-table-invalid', message: /at most 3/ },
  );
  t.throws(() => encodeMbr({ diskSignature: 1, primary: [prim(2048)], logical: [{ ...prim(12288), ebrLba: 12288 }] }), {
    code: 'partition-table-invalid',
    message: /EBR/,
  });
  t.throws(() => encodeMbr({ diskSignature: 1, primary: [prim(2048), prim(3000)] }), {
    code: 'partition-table-invalid',
    message: /overlap/,
  });
});

t.test('readMbrPartitions stops on an EBR chain that loops', async (t) => {
  const enc = encodeMbr({
    diskSignature: 0x1234,
    primary: [{ type: 0x0c, firstLba: 2048, sectors: 2048 }],
    logical: [
      { type: 0x83, firstLba: 6144, sectors: 2048, ebrLba: 4096 },
      { type: 0x83, firstLba: 10240, sectors: 2048, ebrLba: 8192 },
    ],
  });
  const sectors = new Map<number, Buffer>([
    [0, enc.mbr],
    ...enc.ebrs.map((e) => [e.offset / SECTOR, e.data] as [number, Buffer]),
  ]);
  const read = async (lba: number) => sectors.get(lba) ?? Buffer.alloc(SECTOR);
  const good = await readMbrPartitions(read);
  t.equal(good.diskSignature, 0x1234);
  t.same(
    good.partitions.map((p) => [p.index, p.type, p.firstLba, p.sectors, p.isExtended]),
    [
      [1, 0x0c, 2048, 2048, false],
      [2, 0x0f, 4096, 8192, true],
      [5, 0x83, 6144, 2048, false],
      [6, 0x83, 10240, 2048, false],
    ],
  );
  t.equal(decodeMbr(enc.mbr).entries.length, 2);

  // Point the second EBR's link back at the first one.
  const looping = Buffer.from(enc.ebrs[1]!.data);
  looping[446 + 16 + 4] = 0x05;
  looping.writeUInt32LE(0, 446 + 16 + 8);
  looping.writeUInt32LE(4096, 446 + 16 + 12);
  sectors.set(8192, looping);
  await t.rejects(readMbrPartitions(read), { code: 'mbr-corrupt', message: /backwards/ });
});

t.test('probeFilesystem reads FAT16, FAT32 and ext4 labels', async (t) => {
  const { probeFilesystem, PROBE_BYTES } = await import('../lib/partition/probe.ts');
  const dir = t.testdir();
  const head = async (f: string) => (await readFile(f)).subarray(0, PROBE_BYTES);
  const fat16 = path.join(dir, 'f16');
  await execa('mkfs.vfat', ['-F', '16', '-n', 'resin-boot', '-C', fat16, String(16 * 1024)]);
  t.same(probeFilesystem(await head(fat16)), { fs: 'vfat', label: 'resin-boot' });
  const fat32 = path.join(dir, 'f32');
  await execa('mkfs.vfat', ['-F', '32', '-C', fat32, String(40 * 1024)]);
  t.same(probeFilesystem(await head(fat32)), { fs: 'vfat' }, 'NO NAME is no label');
  const ext4 = path.join(dir, 'e4');
  await execa('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'resin-rootA', ext4, '8M']);
  t.same(probeFilesystem(await head(ext4)), { fs: 'ext4', label: 'resin-rootA' });
  t.equal(probeFilesystem(Buffer.alloc(PROBE_BYTES)), undefined);
});
