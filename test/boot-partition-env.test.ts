import t from 'tap';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { bootloaderDescription, decodeBootEnv, type BootloaderProfile } from '../lib/bootenv/index.ts';
import { decodeGrubenv, encodeGrubenv } from '../lib/grubenv.ts';
import { writePartitionTable } from '../lib/partition/index.ts';
import { BootPartition } from '../harness/disk/boot-partition.ts';

const profile: BootloaderProfile = {
  name: 'raspberrypi3',
  partitionTable: 'mbr',
  alignMiB: 1,
  bootloader: { kind: 'u-boot', envFile: '/resinOS_uEnv.txt', countFile: '/bootcount.env', bootCountLimit: 3 },
  partitions: [
    { label: 'resin-boot', fs: 'vfat', sizeMiB: 8 },
    { label: 'resin-rootA', fs: 'ext4', sizeMiB: 1 },
    { label: 'resin-rootB', fs: 'ext4', sizeMiB: 1 },
    { label: 'resin-state', fs: 'ext4', sizeMiB: 1 },
    { label: 'resin-data', fs: 'ext4', sizeMiB: 1 },
  ],
};

/** An MBR disk image whose first partition is an empty FAT filesystem, as the builder makes. */
async function disk(dir: string): Promise<string> {
  const img = path.join(dir, 'disk.img');
  const [boot] = await writePartitionTable(img, profile, 'bootenv-test');
  const fs = path.join(dir, 'boot.fat');
  await execa('mkfs.vfat', ['-n', 'RESIN-BOOT', '-C', fs, String(boot!.sizeBytes / 1024)]);
  const fh = await open(img, 'r+');
  await fh.write(await readFile(fs), 0, undefined, boot!.startBytes);
  await fh.close();
  return img;
}

t.test('the harness reads and switches a U-Boot env on a disk image, with or without a counter', async (t) => {
  const desc = bootloaderDescription(profile);
  const boot = await BootPartition.open(await disk(t.testdir()));
  await boot.write('/resinOS_uEnv.txt', 'resin_root_part=2\nupgrade_available=0\n');
  t.equal(await boot.readIfExists('/bootcount.env'), undefined, 'no counter yet');
  t.same(await boot.readBootEnv(desc), { resin_root_part: 'A', upgrade_available: '0', bootcount: '0' });
  t.same(await boot.updateBootEnv(desc, { resin_root_part: 'B', upgrade_available: '1', bootcount: '1' }), {
    resin_root_part: 'B',
    upgrade_available: '1',
    bootcount: '1',
  });
  t.equal((await boot.read('/resinOS_uEnv.txt')).toString(), 'resin_root_part=3\nupgrade_available=1\n');
  t.equal((await boot.read('/bootcount.env')).toString(), 'bootcount=1\n');
  t.same(
    decodeBootEnv(desc, { env: await boot.read('/resinOS_uEnv.txt'), count: await boot.read('/bootcount.env') })
      .resin_root_part,
    'B',
  );
  await t.rejects(boot.read('/missing.txt'), { code: 'boot-file-missing' });
  // The grubenv methods still work as before.
  await boot.write('/grubenv', encodeGrubenv({ resin_root_part: 'A' }));
  await boot.updateGrubenv({ bootcount: '1' }, '/grubenv');
  t.same(decodeGrubenv(await boot.read('/grubenv')), { resin_root_part: 'A', bootcount: '1' });
});
