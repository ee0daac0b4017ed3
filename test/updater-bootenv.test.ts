import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { DEFAULT_BOOTLOADER, type BootloaderDescription } from '../lib/bootenv/index.ts';
import { atomicWriteFile, checksumFileName } from '../lib/fat/atomic-write.ts';
import { decodeGrubenv, encodeGrubenv, GRUBENV_SIZE } from '../lib/grubenv.ts';
import {
  loadBootloaderDescription,
  readBootEnv,
  updateBootEnv,
  type BootEnvOptions,
} from '../updater/common/bootenv.ts';
import { createHash } from 'node:crypto';

const uboot: BootloaderDescription = {
  kind: 'u-boot',
  envFile: '/resinOS_uEnv.txt',
  countFile: '/bootcount.env',
  bootCountLimit: 3,
  rootPartitions: { A: 2, B: 3 },
};
const launcher: BootloaderDescription = { ...uboot, kind: 'uefi-launcher' };
const ENV = 'resinOS_uEnv.txt';
const COUNT = 'bootcount.env';

const scratch = mkdtempSync(join(tmpdir(), 'huplab-bootenv-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;

/** A fresh boot partition stand-in (t.testdir() would hand one test the same folder twice). */
function bootDir(files: Record<string, string | Buffer> = {}): string {
  const dir = join(scratch, String(dirs++));
  mkdirSync(dir);
  for (const [name, data] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), data);
  }
  return dir;
}

const read = (dir: string, name: string) =>
  existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : undefined;

interface Seen {
  file: string;
  env: string | undefined;
  count: string | undefined;
}

/** Options whose writer records, before each write, which file it is and what both files hold. */
function recording(
  dir: string,
  description: BootloaderDescription,
  cutAt?: number,
): { opts: BootEnvOptions; seen: Seen[] } {
  const seen: Seen[] = [];
  const write = async (path: string, data: Buffer) => {
    seen.push({ file: basename(path), env: read(dir, ENV), count: read(dir, COUNT) });
    if (seen.length === cutAt) throw new Error('power cut');
    await atomicWriteFile(path, data);
  };
  return { opts: { bootDir: dir, description, write }, seen };
}

t.test('u-boot switch: the counter is zeroed first, the env file (the switch) is written last', async (t) => {
  // bootcount 4: left over from an earlier fallback, already over the limit of 3.
  const dir = bootDir({
    [ENV]: 'custom_fdt_file=my.dtb\nresin_root_part=2\nupgrade_available=0\n',
    [COUNT]: 'bootcount=4\n\0',
  });
  const { opts, seen } = recording(dir, uboot);
  const env = await updateBootEnv({ resin_root_part: 'B', upgrade_available: '1', bootcount: '0' }, opts);
  t.same(
    seen.map((s) => s.file),
    [COUNT, ENV],
  );
  t.equal(seen[1]!.count, 'bootcount=0\n', 'when the env is switched the counter is already 0');
  t.equal(read(dir, ENV), 'custom_fdt_file=my.dtb\nresin_root_part=3\nupgrade_available=1\n');
  t.equal(read(dir, COUNT), 'bootcount=0\n');
  t.same(env, { resin_root_part: 'B', upgrade_available: '1', bootcount: '0', custom_fdt_file: 'my.dtb' });
  t.same(readBootEnv(opts), env);
});

t.test('u-boot commit and rollback: the env file first, the counter after', async (t) => {
  const pending = { [ENV]: 'resin_root_part=3\nupgrade_available=1\n', [COUNT]: 'bootcount=2\n' };
  const commitDir = bootDir(pending);
  const commit = recording(commitDir, uboot);
  await updateBootEnv({ upgrade_available: '0', bootcount: '0' }, commit.opts);
  t.same(
    commit.seen.map((s) => s.file),
    [ENV, COUNT],
  );
  t.equal(
    commit.seen[1]!.env,
    'resin_root_part=3\nupgrade_available=0\n',
    'nothing pending before the counter is touched',
  );
  t.equal(read(commitDir, COUNT), 'bootcount=0\n');

  const rollbackDir = bootDir(pending);
  const rollback = recording(rollbackDir, uboot);
  await updateBootEnv({ resin_root_part: 'A', upgrade_available: '0', bootcount: '0' }, rollback.opts);
  t.same(
    rollback.seen.map((s) => s.file),
    [ENV, COUNT],
  );
  t.equal(read(rollbackDir, ENV), 'resin_root_part=2\nupgrade_available=0\n');
});

t.test('a power cut between the two writes leaves a state the bootloader handles safely', async (t) => {
  const switchDir = bootDir({ [ENV]: 'resin_root_part=2\nupgrade_available=0\n', [COUNT]: 'bootcount=4\n' });
  await t.rejects(
    updateBootEnv(
      { resin_root_part: 'B', upgrade_available: '1', bootcount: '0' },
      recording(switchDir, uboot, 2).opts,
    ),
    /power cut/,
  );
  t.same(
    readBootEnv({ bootDir: switchDir, description: uboot }),
    { resin_root_part: 'A', upgrade_available: '0', bootcount: '0' },
    'switch cut: still the old root, nothing pending',
  );

  const commitDir = bootDir({ [ENV]: 'resin_root_part=3\nupgrade_available=1\n', [COUNT]: 'bootcount=2\n' });
  await t.rejects(
    updateBootEnv({ upgrade_available: '0', bootcount: '0' }, recording(commitDir, uboot, 2).opts),
    /power cut/,
  );
  t.match(
    readBootEnv({ bootDir: commitDir, description: uboot }),
    { resin_root_part: 'B', upgrade_available: '0' },
    'commit cut: committed; the stale count is not read',
  );
});

t.test('uefi-launcher: a missing counter is created as a grubenv block, never left missing', async (t) => {
  const dir = bootDir({ [ENV]: 'resin_root_part=2\nupgrade_available=0\n' });
  t.equal(readBootEnv({ bootDir: dir, description: launcher }).bootcount, '0');
  await updateBootEnv({ resin_root_part: 'B', upgrade_available: '1' }, { bootDir: dir, description: launcher });
  const count = readFileSync(join(dir, COUNT));
  t.equal(count.length, GRUBENV_SIZE);
  t.same(decodeGrubenv(count), { bootcount: '0' });
  // The launcher's save_env counted one boot; the commit resets it in place, as a block.
  writeFileSync(join(dir, COUNT), encodeGrubenv({ bootcount: '1' }));
  await updateBootEnv({ upgrade_available: '0', bootcount: '0' }, { bootDir: dir, description: launcher });
  t.same(decodeGrubenv(readFileSync(join(dir, COUNT))), { bootcount: '0' });
  t.equal(read(dir, ENV), 'resin_root_part=3\nupgrade_available=0\n');
});

t.test('a garbled counter is replaced by a write that sets bootcount, and stops one that does not', async (t) => {
  const dir = bootDir({ [ENV]: 'resin_root_part=3\nupgrade_available=1\n', [COUNT]: Buffer.alloc(13, 0xff) });
  const opts = { bootDir: dir, description: uboot };
  t.throws(() => readBootEnv(opts), { code: 'bootenv-count-invalid' });
  await t.rejects(updateBootEnv({ custom: 'x' }, opts), { code: 'bootenv-count-invalid' });
  t.equal(read(dir, ENV), 'resin_root_part=3\nupgrade_available=1\n', 'nothing written');
  await updateBootEnv({ upgrade_available: '0', bootcount: '0' }, opts);
  t.equal(read(dir, COUNT), 'bootcount=0\n');
  t.same(readBootEnv(opts), { resin_root_part: 'B', upgrade_available: '0', bootcount: '0' });
});

t.test(
  'an interrupted write of the counter is dropped, not finished: the bootloader read what is in place',
  async (t) => {
    const journal = 'bootcount=3\n';
    const sha = createHash('sha256').update(journal).digest('hex');
    const dir = bootDir({
      [ENV]: 'resin_root_part=3\nupgrade_available=1\n',
      [COUNT]: 'bootcount=1\n',
      [checksumFileName(COUNT, sha)]: journal,
    });
    // A plain writer: only updateBootEnv's own repair can remove the journal.
    const write = async (path: string, data: Buffer) => writeFileSync(path, data);
    await updateBootEnv({ custom: 'x' }, { bootDir: dir, description: uboot, write });
    t.same(
      readdirSync(dir).filter((f) => f.endsWith('.new')),
      [],
      'journal removed',
    );
    t.equal(read(dir, COUNT), 'bootcount=1\n', 'the count in place was kept');
  },
);

t.test('grub-efi (the default): one grubenv, variables kept, as before', async (t) => {
  const dir = bootDir({
    'EFI/BOOT/grubenv': encodeGrubenv({ resin_root_part: 'A', upgrade_available: '0', bootcount: '0', extra: 'kept' }),
  });
  const seen: string[] = [];
  const opts = {
    bootDir: dir,
    description: DEFAULT_BOOTLOADER,
    write: async (p: string, d: Buffer) => {
      seen.push(p);
      await atomicWriteFile(p, d);
    },
  };
  await updateBootEnv({ resin_root_part: 'B', upgrade_available: '1', bootcount: '0' }, opts);
  t.same(seen, [join(dir, 'EFI/BOOT/grubenv')]);
  t.same(decodeGrubenv(readFileSync(join(dir, 'EFI/BOOT/grubenv'))), {
    resin_root_part: 'B',
    upgrade_available: '1',
    bootcount: '0',
    extra: 'kept',
  });
  t.throws(() => readBootEnv({ bootDir: bootDir(), description: DEFAULT_BOOTLOADER }), { code: 'bootenv-missing' });
});

t.test('the description: from the image when present, the generic GRUB one when absent', async (t) => {
  const file = join(bootDir(), 'bootloader.json');
  const fallback = loadBootloaderDescription(file);
  t.same(fallback, {
    kind: 'grub-efi',
    envFile: '/EFI/BOOT/grubenv',
    bootCountLimit: 2,
    rootPartitions: { A: 2, B: 3 },
  });
  fallback.rootPartitions.A = 9;
  t.equal(DEFAULT_BOOTLOADER.rootPartitions.A, 2, 'the default is not shared');
  writeFileSync(file, JSON.stringify(uboot));
  t.same(loadBootloaderDescription(file), uboot);
  const boot = bootDir({ [ENV]: 'resin_root_part=3\n' });
  t.same(readBootEnv({ bootDir: boot, descriptionPath: file }), { resin_root_part: 'B', bootcount: '0' });
  writeFileSync(file, JSON.stringify({ ...uboot, kind: 'u-boot-2' }));
  t.throws(() => loadBootloaderDescription(file), {
    code: 'bootloader-invalid',
    message: new RegExp(`^${file}: /kind is "u-boot-2"`),
  });
});
