import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import {
  bootEnvWriteOrder,
  bootloaderDescription,
  decodeBootEnv,
  DEFAULT_BOOTLOADER,
  encodeBootEnv,
  encodeUEnv,
  parseBootloaderDescription,
  parseUEnv,
  validateBootloaderDescription,
  type BootloaderDescription,
  type BootloaderProfile,
} from '../lib/bootenv/index.ts';
import { decodeGrubenv, encodeGrubenv, GRUBENV_SIZE } from '../lib/grubenv.ts';
import { loadProfile } from '../lib/profile.ts';
import { RPI3_PARTITIONS } from './helpers/rpi3-layout.ts';

const uboot: BootloaderDescription = {
  kind: 'u-boot',
  envFile: '/resinOS_uEnv.txt',
  countFile: '/bootcount.env',
  bootCountLimit: 3,
  rootPartitions: { A: 2, B: 3 },
};
const launcher: BootloaderDescription = { ...uboot, kind: 'uefi-launcher' };
/** A Jetson-like GPT layout: vendor partitions first, the roots at 11 and 12. */
const jetson: BootloaderDescription = { ...uboot, rootPartitions: { A: 11, B: 12 } };
const text = (b: Buffer | undefined) => b?.toString('utf8');

t.test('uEnv text: round trip, in order, as name=value lines', async (t) => {
  const vars = {
    resin_root_part: 'b',
    upgrade_available: '1',
    custom_fdt_file: 'tegra210-p3448.dtb',
    empty: '',
    eq: 'k=v',
    sp: 'a b\tc',
    __proto__x: 'y',
  };
  const buf = encodeUEnv(vars);
  t.equal(
    buf.toString(),
    'resin_root_part=b\nupgrade_available=1\ncustom_fdt_file=tegra210-p3448.dtb\nempty=\neq=k=v\nsp=a b\tc\n__proto__x=y\n',
  );
  t.strictSame(parseUEnv(buf), vars);
  t.same(Object.keys(parseUEnv(buf)), Object.keys(vars));
});

t.test('uEnv text: what the bootloaders write is read', async (t) => {
  // U-Boot `env export -t` + fatwrite ${filesize}: the terminating NUL is in the file.
  t.strictSame(parseUEnv(Buffer.from('bootcount=1\n\0')), { bootcount: '1' });
  // balena's L4TLauncher: no newline at the end.
  t.strictSame(parseUEnv(Buffer.from('bootcount=2')), { bootcount: '2' });
  // Comments and blank lines are skipped, later duplicates win (env import).
  t.strictSame(parseUEnv(Buffer.from('# made by hand\n\nresin_root_part=2\nresin_root_part=3\n')), {
    resin_root_part: '3',
  });
  t.strictSame(parseUEnv(Buffer.alloc(0)), {});
});

t.test('uEnv text: garbage is rejected with a one-line error', async (t) => {
  const cases: [string, Buffer, RegExp][] = [
    ['a block of one byte', Buffer.alloc(1024, 0x5a), /line 1 has no "="/],
    ['binary, not UTF-8', Buffer.from([0x72, 0x3d, 0xff, 0xfe, 0x0a]), /not UTF-8/],
    ['a NUL inside', Buffer.from('resin_root_part=2\0upgrade_available=0\n'), /control character 0x00/],
    ['a CR (U-Boot would keep it in the value)', Buffer.from('resin_root_part=2\r\n'), /control character 0x0d/],
    ['a line without =', Buffer.from('resin_root_part=2\ngarbage\n'), /line 2 has no "="/],
    ['a name GRUB would run as a command', Buffer.from('a.b=1\n'), /invalid variable name "a.b"/],
    ['a line starting with =', Buffer.from('=1\n'), /invalid variable name ""/],
  ];
  for (const [what, buf, message] of cases) {
    const err = (() => {
      try {
        parseUEnv(buf, '/resinOS_uEnv.txt');
        return undefined;
      } catch (e) {
        return e as { code: string; message: string; oneLine(): string };
      }
    })();
    t.equal(err?.code, 'uenv-invalid', what);
    t.match(err?.message, message, what);
    t.match(err?.message, /^\/resinOS_uEnv\.txt: /, `${what}: names the file`);
    t.notMatch(err?.oneLine(), /\n/, `${what}: one line`);
  }
  t.throws(() => encodeUEnv({ 'bad-name': '1' }), { code: 'uenv-invalid-name' });
  t.throws(() => encodeUEnv({ k: 'two\nlines' }), { code: 'uenv-invalid-value' });
  t.throws(() => encodeUEnv({ k: 'a\0b' }), { code: 'uenv-invalid-value' });
});

t.test('u-boot: slots are written as hex partition numbers and read back', async (t) => {
  const files = encodeBootEnv(jetson, { resin_root_part: 'A', upgrade_available: '0', bootcount: '0' });
  t.equal(text(files.env), 'resin_root_part=b\nupgrade_available=0\n', 'partition 11 is "b"');
  t.equal(text(files.count), 'bootcount=0\n');
  t.equal(
    text(encodeBootEnv(jetson, { resin_root_part: 'B', upgrade_available: '1', bootcount: '0' }).env),
    'resin_root_part=c\nupgrade_available=1\n',
  );
  t.strictSame(decodeBootEnv(jetson, files), { resin_root_part: 'A', upgrade_available: '0', bootcount: '0' });
  // As U-Boot's strtoul(…, 16) reads them: upper case (balena's Jetson default "C") and 0x.
  for (const raw of ['c', 'C', '0xc', '0C']) {
    t.equal(decodeBootEnv(jetson, { env: Buffer.from(`resin_root_part=${raw}\n`) }).resin_root_part, 'B', raw);
  }
  t.equal(decodeBootEnv(uboot, { env: Buffer.from('resin_root_part=3\n') }).resin_root_part, 'B');
});

t.test('u-boot: a partition number that is neither root is an error naming both', async (t) => {
  t.throws(() => decodeBootEnv(jetson, { env: Buffer.from('resin_root_part=5\n') }), {
    code: 'bootenv-unknown-root',
    message: /resin_root_part=5 is partition 5, neither resin-rootA \(partition 11\) nor resin-rootB \(partition 12\)/,
  });
  // "11" is hex: partition 17, not A's 11.
  t.throws(() => decodeBootEnv(jetson, { env: Buffer.from('resin_root_part=11\n') }), {
    code: 'bootenv-unknown-root',
    message: /is partition 17/,
  });
  t.throws(() => decodeBootEnv(uboot, { env: Buffer.from('resin_root_part=rootA\n') }), {
    code: 'bootenv-invalid',
    message: /not a hex partition number/,
  });
  t.throws(() => decodeBootEnv(uboot, { env: Buffer.from('upgrade_available=0\n') }), {
    code: 'bootenv-invalid',
    message: /has no resin_root_part/,
  });
  t.throws(() => encodeBootEnv(uboot, { resin_root_part: 'C', upgrade_available: '0' }), {
    code: 'bootenv-invalid-value',
    message: /must be A or B/,
  });
  t.throws(() => encodeBootEnv(uboot, { upgrade_available: '0' }), {
    code: 'bootenv-invalid-value',
    message: /resin_root_part must be set/,
  });
});

t.test('u-boot: other variables and their order are kept; bootcount moves to the count file', async (t) => {
  const previous = {
    env: Buffer.from(
      '# hand made\ncustom_fdt_file=my.dtb\nresin_root_part=2\nupgrade_available=0\nbootcount=7\nos_bc_skip=0\n',
    ),
    count: Buffer.from('bootcount=0\n'),
  };
  const logical = decodeBootEnv(uboot, previous);
  t.strictSame(
    logical,
    { resin_root_part: 'A', upgrade_available: '0', bootcount: '0', custom_fdt_file: 'my.dtb', os_bc_skip: '0' },
    'the count file wins over a bootcount in the env file',
  );
  const next = encodeBootEnv(
    uboot,
    { ...logical, resin_root_part: 'B', upgrade_available: '1', bootcount: '0' },
    previous,
  );
  t.equal(text(next.env), 'custom_fdt_file=my.dtb\nresin_root_part=3\nupgrade_available=1\nos_bc_skip=0\n');
  t.equal(text(next.count), 'bootcount=0\n');
  // Keys the logical env does not mention come from the previous files; undefined removes one.
  t.equal(
    text(encodeBootEnv(uboot, { resin_root_part: 'A' }, previous).env),
    'custom_fdt_file=my.dtb\nresin_root_part=2\nupgrade_available=0\nos_bc_skip=0\n',
  );
  t.equal(
    text(encodeBootEnv(uboot, { resin_root_part: 'A', os_bc_skip: undefined }, previous).env),
    'custom_fdt_file=my.dtb\nresin_root_part=2\nupgrade_available=0\n',
  );
});

t.test('u-boot: a missing count file is bootcount 0; the count is hex, as setexpr writes it', async (t) => {
  t.equal(decodeBootEnv(uboot, { env: Buffer.from('resin_root_part=2\nupgrade_available=1\n') }).bootcount, '0');
  // Without the count file, a bootcount in the env file is what the script sees.
  t.equal(decodeBootEnv(uboot, { env: Buffer.from('resin_root_part=2\nbootcount=2\n') }).bootcount, '2');
  t.equal(
    decodeBootEnv(uboot, { env: Buffer.from('resin_root_part=2\n'), count: Buffer.from('bootcount=a\n\0') }).bootcount,
    '10',
  );
  t.equal(text(encodeBootEnv(uboot, { resin_root_part: 'A', bootcount: '10' }).count), 'bootcount=a\n');
  t.throws(
    () => decodeBootEnv(uboot, { env: Buffer.from('resin_root_part=2\n'), count: Buffer.from('bootcount=zz\n') }),
    { code: 'bootenv-count-invalid', message: /not a hex number/ },
  );
  t.throws(() => decodeBootEnv(uboot, { env: Buffer.from('resin_root_part=2\n'), count: Buffer.alloc(13, 0xff) }), {
    code: 'bootenv-count-invalid',
    message: /^\/bootcount\.env: /,
  });
  t.throws(() => encodeBootEnv(uboot, { resin_root_part: 'A', bootcount: 'x' }), { code: 'bootenv-invalid-value' });
  // Without bootcount in the logical env, the previous counter is kept, or 0 when there is none.
  t.equal(
    text(encodeBootEnv(uboot, { resin_root_part: 'A' }, { count: Buffer.from('bootcount=2\n') }).count),
    'bootcount=2\n',
  );
  t.equal(text(encodeBootEnv(uboot, { resin_root_part: 'A' }).count), 'bootcount=0\n');
});

t.test('uefi-launcher: the count file is a 1024-byte grubenv block that grub-editenv reads', async (t) => {
  const files = encodeBootEnv(launcher, { resin_root_part: 'B', upgrade_available: '1', bootcount: '12' });
  t.equal(text(files.env), 'resin_root_part=3\nupgrade_available=1\n', 'the env file is text, as for u-boot');
  t.equal(files.count?.length, GRUBENV_SIZE);
  t.strictSame(decodeGrubenv(files.count!), { bootcount: '12' }, 'decimal: the launcher compares strings');
  const file = path.join(t.testdir(), 'bootcount.env');
  await writeFile(file, files.count!);
  t.equal((await execa('grub-editenv', [file, 'list'])).stdout, 'bootcount=12');
  // What GRUB's save_env leaves (other variables too) is read, and the others are kept.
  await execa('grub-editenv', [file, 'set', 'bootcount=2', 'other=x']);
  const count = await readFile(file);
  t.equal(decodeBootEnv(launcher, { env: files.env, count }).bootcount, '2');
  t.strictSame(
    decodeGrubenv(encodeBootEnv(launcher, { resin_root_part: 'B', bootcount: '0' }, { env: files.env, count }).count!),
    { bootcount: '0', other: 'x' },
  );
  // A text counter (balena's L4TLauncher writes one) is read too; it is rewritten as a block.
  t.equal(decodeBootEnv(launcher, { env: files.env, count: Buffer.from('bootcount=1') }).bootcount, '1');
  t.equal(
    encodeBootEnv(launcher, { resin_root_part: 'A' }, { env: files.env, count: Buffer.from('bootcount=1') }).count
      ?.length,
    GRUBENV_SIZE,
  );
  // A missing counter is created (as a block), never left out.
  t.strictSame(decodeGrubenv(encodeBootEnv(launcher, { resin_root_part: 'A', upgrade_available: '0' }).count!), {
    bootcount: '0',
  });
  t.throws(() => decodeBootEnv(launcher, { env: files.env, count: Buffer.from('bootcount=a\n') }), {
    code: 'bootenv-count-invalid',
    message: /not a decimal number/,
  });
});

t.test('grub-efi: exactly the grubenv behaviour, slot letters as they are', async (t) => {
  const env = encodeGrubenv({ resin_root_part: 'A', upgrade_available: '0', bootcount: '0', extra: 'kept' });
  t.strictSame(decodeBootEnv(DEFAULT_BOOTLOADER, { env }), {
    resin_root_part: 'A',
    upgrade_available: '0',
    bootcount: '0',
    extra: 'kept',
  });
  const next = encodeBootEnv(
    DEFAULT_BOOTLOADER,
    { resin_root_part: 'B', upgrade_available: '1', bootcount: '0' },
    { env },
  );
  t.equal(next.count, undefined, 'no count file');
  t.same(next.env, encodeGrubenv({ resin_root_part: 'B', upgrade_available: '1', bootcount: '0', extra: 'kept' }));
  t.throws(() => decodeBootEnv(DEFAULT_BOOTLOADER, { env: Buffer.alloc(1024, 0x5a) }), { code: 'grubenv-invalid' });
});

t.test('write order: the counter before arming, the switch before the counter when clearing', async (t) => {
  const idle = { resin_root_part: 'A', upgrade_available: '0', bootcount: '0' };
  const pending = { resin_root_part: 'B', upgrade_available: '1', bootcount: '2' };
  t.same(bootEnvWriteOrder(uboot, idle, { ...pending, bootcount: '0' }), ['count', 'env'], 'switch: count first');
  t.same(
    bootEnvWriteOrder(uboot, pending, { ...pending, upgrade_available: '0', bootcount: '0' }),
    ['env', 'count'],
    'commit: env first',
  );
  t.same(
    bootEnvWriteOrder(uboot, pending, { resin_root_part: 'A', upgrade_available: '0', bootcount: '0' }),
    ['env', 'count'],
    'rollback: env first',
  );
  t.same(
    bootEnvWriteOrder(uboot, idle, { ...idle, resin_root_part: 'B' }),
    ['count', 'env'],
    'a root switch alone: count first',
  );
  t.same(bootEnvWriteOrder(launcher, undefined, idle), ['env', 'count'], 'repair of an unreadable env: env first');
  t.same(bootEnvWriteOrder(DEFAULT_BOOTLOADER, idle, pending), ['env']);
});

t.test('description: validated field by field, with a one-line message naming the field', async (t) => {
  t.strictSame(validateBootloaderDescription(JSON.parse(JSON.stringify(uboot))), uboot);
  t.strictSame(parseBootloaderDescription(JSON.stringify(DEFAULT_BOOTLOADER)), DEFAULT_BOOTLOADER);
  const bad: [string, unknown, RegExp][] = [
    ['not an object', [], /the description must be a JSON object/],
    ['unknown kind', { ...uboot, kind: 'lilo' }, /\/kind is "lilo" \(use one of grub-efi, u-boot, uefi-launcher\)/],
    ['relative envFile', { ...uboot, envFile: 'resinOS_uEnv.txt' }, /\/envFile is "resinOS_uEnv.txt", not a file path/],
    ['u-boot without countFile', { ...uboot, countFile: undefined }, /\/countFile is missing; u-boot keeps bootcount/],
    [
      'grub-efi with countFile',
      { ...DEFAULT_BOOTLOADER, countFile: '/bootcount.env' },
      /\/countFile is set, but grub-efi/,
    ],
    [
      'countFile = envFile (FAT ignores case)',
      { ...uboot, countFile: '/RESINOS_UENV.TXT' },
      /\/countFile is the same file as envFile/,
    ],
    ['bootCountLimit 0', { ...uboot, bootCountLimit: 0 }, /\/bootCountLimit is 0 \(use a whole number from 1 to 16/],
    ['rootPartitions missing', { ...uboot, rootPartitions: undefined }, /\/rootPartitions is undefined/],
    [
      'a hex string for B',
      { ...uboot, rootPartitions: { A: 2, B: 'c' } },
      /\/rootPartitions\/B is "c" \(use the decimal partition number of resin-rootB/,
    ],
    ['a third slot', { ...uboot, rootPartitions: { A: 2, B: 3, C: 4 } }, /\/rootPartitions\/C is not a root slot/],
    ['the same partition twice', { ...uboot, rootPartitions: { A: 2, B: 2 } }, /gives both roots partition 2/],
    ['a typo', { ...uboot, bootcountLimit: 3 }, /\/bootcountLimit is not a known field/],
  ];
  for (const [what, data, message] of bad) {
    const err = (() => {
      try {
        validateBootloaderDescription(JSON.parse(JSON.stringify(data) ?? 'null'), '/etc/huplab/bootloader.json');
        return undefined;
      } catch (e) {
        return e as { code: string; oneLine(): string };
      }
    })();
    t.equal(err?.code, 'bootloader-invalid', what);
    t.match(err?.oneLine(), message, what);
    t.match(err?.oneLine(), /^\/etc\/huplab\/bootloader\.json: /, `${what}: names the file`);
  }
  t.throws(() => parseBootloaderDescription('{"kind":', '/x.json'), {
    code: 'bootloader-invalid',
    message: /^\/x\.json: invalid JSON/,
  });
});

t.test('description from a profile: root partition numbers as the disk numbers them', async (t) => {
  const generic = await loadProfile('generic-amd64');
  t.strictSame(bootloaderDescription(generic), DEFAULT_BOOTLOADER, 'generic-amd64 is the default');
  const pi = (partitions = RPI3_PARTITIONS): BootloaderProfile => ({
    name: 'raspberrypi3',
    partitionTable: 'mbr',
    alignMiB: 4,
    partitions,
    bootloader: { kind: 'u-boot', envFile: '/resinOS_uEnv.txt', countFile: '/bootcount.env', bootCountLimit: 3 },
  });
  t.strictSame(bootloaderDescription(pi()), uboot);
  // MBR with a vendor partition first: rootB is the fourth entry but a logical partition, number 5.
  const vendorFirst = [{ label: 'vendor', fs: 'raw' as const, sizeMiB: 4 }, ...RPI3_PARTITIONS];
  t.same(bootloaderDescription(pi(vendorFirst)).rootPartitions, { A: 3, B: 5 });
  // GPT with ten vendor partitions first (Jetson-like): 12 and 13, written "c" and "d".
  const jp4: BootloaderProfile = {
    ...pi(),
    name: 'jetson-nano',
    partitionTable: 'gpt',
    partitions: [
      ...Array.from({ length: 10 }, (_, i) => ({ label: `v${i}`, fs: 'raw' as const, sizeMiB: 1 })),
      ...RPI3_PARTITIONS,
    ],
  };
  const desc = bootloaderDescription(jp4);
  t.same(desc.rootPartitions, { A: 12, B: 13 });
  t.equal(text(encodeBootEnv(desc, { resin_root_part: 'B' }).env), 'resin_root_part=d\n');
  t.throws(() => bootloaderDescription({ ...generic, bootloader: { ...generic.bootloader, bootCountLimit: 99 } }), {
    code: 'bootloader-invalid',
    message: /profile generic-amd64 \/bootloader: \/bootCountLimit is 99/,
  });
});
