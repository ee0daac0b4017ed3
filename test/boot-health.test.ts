import t from 'tap';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_BOOTLOADER, parseUEnv, type BootloaderDescription } from '../lib/bootenv/index.ts';
import { decodeGrubenv, encodeGrubenv } from '../lib/grubenv.ts';
import { checkBootEnv, findings, fsckFindings } from '../updater/common/boot-health.ts';
import { LOST_CLUSTERS_SCRIPT } from '../harness/faults/fat-damage.ts';

t.test('a garbled bootloader env is rewritten for the running root, a sound one is left alone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'huplab-env-'));
  const path = join(dir, 'grubenv');
  const opts = { bootDir: dir, description: { ...DEFAULT_BOOTLOADER, envFile: '/grubenv' } };
  const sound = encodeGrubenv({ resin_root_part: 'B', upgrade_available: '0', bootcount: '0', extra: 'kept' });
  writeFileSync(path, sound);
  const logs: string[] = [];
  const a = await checkBootEnv('B', (m) => logs.push(m), opts);
  t.equal(a.repaired, false);
  t.same(readFileSync(path), sound, 'untouched');
  t.same(logs, []);

  for (const garbage of [Buffer.alloc(1024, 0x5a), Buffer.alloc(0), sound.subarray(0, 600)]) {
    writeFileSync(path, garbage);
    const r = await checkBootEnv('A', (m) => logs.push(m), opts);
    t.equal(r.repaired, true, `${garbage.length} bytes of garbage`);
    t.same(decodeGrubenv(readFileSync(path)), { resin_root_part: 'A', upgrade_available: '0', bootcount: '0' });
  }
  t.match(
    logs.at(-1),
    /was unreadable .*rewritten for the running root: resin_root_part=A upgrade_available=0 bootcount=0/,
  );
});

// A Jetson-like layout: the roots are partitions 11 and 12, "b" and "c" in the env file.
const uboot: BootloaderDescription = {
  kind: 'u-boot',
  envFile: '/resinOS_uEnv.txt',
  countFile: '/bootcount.env',
  bootCountLimit: 3,
  rootPartitions: { A: 11, B: 12 },
};

t.test('u-boot: an unreadable env file or counter is rewritten (both files) for the running root', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'huplab-uenv-'));
  const env = join(dir, 'resinOS_uEnv.txt');
  const count = join(dir, 'bootcount.env');
  const opts = { bootDir: dir, description: uboot };
  const sound = 'custom_fdt_file=my.dtb\nresin_root_part=c\nupgrade_available=1\n';
  writeFileSync(env, sound);
  rmSync(count, { force: true });
  const logs: string[] = [];
  const ok = await checkBootEnv('B', (m) => logs.push(m), opts);
  t.same(
    ok,
    {
      env: { resin_root_part: 'B', upgrade_available: '1', bootcount: '0', custom_fdt_file: 'my.dtb' },
      repaired: false,
    },
    'a missing U-Boot counter is bootcount 0',
  );
  t.equal(readFileSync(env, 'utf8'), sound, 'untouched');
  t.notOk(existsSync(count), 'U-Boot creates its counter itself: not written');
  t.same(logs, []);

  const garbage: [string, string | Buffer | undefined, string | Buffer | undefined][] = [
    ['binary env', Buffer.alloc(1024, 0xff), 'bootcount=2\n'],
    ['env line without =', 'resin_root_part=c\ngarbage\n', 'bootcount=2\n'],
    ['env without resin_root_part', 'upgrade_available=1\n', undefined],
    ['env missing', undefined, 'bootcount=2\n'],
    ['a partition that is neither root', 'resin_root_part=5\nupgrade_available=1\n', 'bootcount=2\n'],
    ['garbled counter', sound, Buffer.from([0x62, 0, 0xfe, 0x3d])],
  ];
  for (const [what, envData, countData] of garbage) {
    rmSync(env, { force: true });
    rmSync(count, { force: true });
    if (envData !== undefined) writeFileSync(env, envData);
    if (countData !== undefined) writeFileSync(count, countData);
    const r = await checkBootEnv('A', (m) => logs.push(m), opts);
    t.equal(r.repaired, true, what);
    t.same(r.env, { resin_root_part: 'A', upgrade_available: '0', bootcount: '0' }, what);
    // The env file's other variables survive when only the counter was garbled.
    const kept = what === 'garbled counter' ? { custom_fdt_file: 'my.dtb' } : {};
    t.same(parseUEnv(readFileSync(env)), { ...kept, resin_root_part: 'b', upgrade_available: '0' }, what);
    t.equal(readFileSync(count, 'utf8'), 'bootcount=0\n', what);
  }
  t.match(
    logs.at(-1),
    /resinOS_uEnv\.txt \+ .*bootcount\.env was unreadable \(.*bootcount\.env.*\); rewritten for the running root: resin_root_part=A upgrade_available=0 bootcount=0/,
  );
  t.match(logs.at(-2), /neither resin-rootA \(partition 11\) nor resin-rootB \(partition 12\)/);
});

t.test(
  'uefi-launcher: a missing counter is recreated as a grubenv block (the launcher cannot create it)',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'huplab-uenv-'));
    const env = join(dir, 'resinOS_uEnv.txt');
    const count = join(dir, 'bootcount.env');
    const opts = { bootDir: dir, description: { ...uboot, kind: 'uefi-launcher' as const } };
    writeFileSync(env, 'resin_root_part=b\nupgrade_available=0\n');
    const logs: string[] = [];
    const r = await checkBootEnv('A', (m) => logs.push(m), opts);
    t.equal(r.repaired, true);
    t.equal(readFileSync(env, 'utf8'), 'resin_root_part=b\nupgrade_available=0\n', 'the env is left alone');
    t.same(decodeGrubenv(readFileSync(count)), { bootcount: '0' });
    t.match(logs, [/bootcount\.env was missing .*created with bootcount=0/]);
    const again = await checkBootEnv('A', (m) => logs.push(m), opts);
    t.equal(again.repaired, false, 'present now: nothing to do');
    // A garbled block is rewritten with the env, as for u-boot, and stays a block.
    writeFileSync(count, Buffer.alloc(1024, 0x5a));
    t.equal((await checkBootEnv('A', (m) => logs.push(m), opts)).repaired, true);
    t.same(decodeGrubenv(readFileSync(count)), { bootcount: '0' });
  },
);

// The boot-corrupt-fat fault's injector, run on a real FAT16 filesystem: fsck.fat must see the
// damage it makes and be able to repair it, or the fault would prove nothing.
t.test('the lost-cluster injector damages a FAT16 filesystem the way fsck.fat detects and repairs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'huplab-fat-'));
  const img = join(dir, 'boot.img');
  spawnSync('truncate', ['-s', '64M', img]);
  t.equal(spawnSync('mkfs.vfat', ['-F', '16', '-n', 'RESIN-BOOT', img]).status, 0, 'mkfs.vfat');
  t.equal(spawnSync('fsck.fat', ['-n', img]).status, 0, 'clean before');
  // Run from a file, as the device runs it.
  writeFileSync(join(dir, 'fat-damage.cjs'), LOST_CLUSTERS_SCRIPT);
  const inject = spawnSync(process.execPath, [join(dir, 'fat-damage.cjs'), img, '16'], { encoding: 'utf8' });
  t.equal(inject.status, 0, inject.stderr);
  t.match(inject.stdout, /lost chain of 16 clusters .*FAT16, 2 copies/);
  const found = spawnSync('fsck.fat', ['-n', img], { encoding: 'utf8' });
  t.not(found.status, 0, 'fsck.fat -n finds the damage');
  t.notMatch(found.stdout, /FATs differ/, 'both copies were damaged alike');
  t.equal(spawnSync('fsck.fat', ['-a', '-w', img]).status, 1, 'fsck.fat -a repairs (exit 1: errors corrected)');
  t.equal(spawnSync('fsck.fat', ['-n', img]).status, 0, 'clean after the repair');
});

t.test('the dirty bit of a mounted FAT is not a finding; a lost chain is', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'huplab-fat-'));
  const img = join(dir, 'boot.img');
  spawnSync('truncate', ['-s', '64M', img]);
  spawnSync('mkfs.vfat', ['-F', '16', img]);
  // FAT16 keeps the dirty flag in bit 0 of byte 37 of the boot sector; the kernel sets it on mount.
  const fd = openSync(img, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, 37);
  writeSync(fd, Buffer.from([b[0]! | 1]), 0, 1, 37);
  closeSync(fd);
  t.not(spawnSync('fsck.fat', ['-n', img]).status, 0, 'fsck.fat alone counts the dirty bit');
  t.equal(fsckFindings('fsck.fat', img), '', 'not a finding');
  spawnSync(process.execPath, ['-e', LOST_CLUSTERS_SCRIPT, img, '4']);
  t.match(fsckFindings('fsck.fat', img), /unused clusters/i);
});

t.test("fsck.fat's noise on the device is not a finding", async (t) => {
  // As the device's fsck.fat printed it: no iconv modules, the dirty bit of the mounted FAT.
  const device = [
    'fsck.fat 4.2 (2021-01-31)',
    'Cannot initialize conversion from codepage 850 to ANSI_X3.4-1968: Invalid argument',
    'Cannot initialize conversion from ANSI_X3.4-1968 to codepage 850: Invalid argument',
    'Using internal CP850 conversion table',
    'Dirty bit is set. Fs was not properly unmounted and some data may be corrupt.',
    ' Automatically removing dirty bit.',
    '',
    'Leaving filesystem unchanged.',
    '/dev/vda1: 9 files, 2044/32695 clusters',
  ].join('\n');
  t.equal(findings(device), '');
  t.equal(
    findings(device.replace('Leaving', 'Reclaimed 16 unused clusters (32768 bytes) in 1 chain.\nLeaving')),
    'Reclaimed 16 unused clusters (32768 bytes) in 1 chain.',
  );
});
