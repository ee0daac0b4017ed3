import { RPI3_PARTITIONS } from './helpers/rpi3-layout.ts';
import t, { type Test } from 'tap';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DEVICES_DIR, listProfiles, loadProfile, ProfileError, validateProfile, type Profile } from '../lib/profile.ts';
import { HuplabError } from '../lib/errors.ts';
import { readConfiguredDirSync } from '../lib/paths.ts';

// biome-ignore lint/suspicious/noExplicitAny: a shipped profile as JSON, mutated field by field by the cases
const shippedJson = async (name: string): Promise<Record<string, any>> =>
  JSON.parse(await readFile(path.join(DEVICES_DIR, `${name}.json`), 'utf8'));

/** Writes `files` into a fresh folder and loads `name` from it; returns the error it throws. */
async function loadError(t: Test, files: Record<string, string>, name: string): Promise<HuplabError> {
  const dir = t.testdir(files);
  try {
    await loadProfile(name, dir);
  } catch (err) {
    if (err instanceof HuplabError) return err;
    throw err;
  }
  throw new Error(`loading ${name} unexpectedly succeeded`);
}

function validationError(data: unknown, file: string): ProfileError {
  try {
    validateProfile(data, file);
  } catch (err) {
    if (err instanceof ProfileError) return err;
    throw err;
  }
  throw new Error(`${file} unexpectedly validated`);
}

const raspberrypi3 = {
  name: 'raspberrypi3',
  deviceType: 'raspberrypi3',
  description: 'Raspberry Pi 3 (32-bit OS), QEMU raspi3b + U-Boot',
  arch: 'armhf',
  bootloader: { kind: 'u-boot', envFile: '/resinOS_uEnv.txt', countFile: '/bootcount.env', bootCountLimit: 3 },
  partitionTable: 'mbr',
  partitions: RPI3_PARTITIONS.map((p) => ({ ...p })),
  alignMiB: 4,
  kernel: {
    debianPackage: 'linux-image-arm64',
    modules: ['dwc2', 'usbnet', 'cdc_ether', 'bcm2835_wdt'],
    cmdline: 'console=ttyAMA0,115200',
    dtb: 'broadcom/bcm2837-rpi-3-b.dtb',
  },
  console: { device: 'ttyAMA0', baud: 115200 },
  qemu: {
    binary: 'qemu-system-aarch64',
    machine: 'raspi3b',
    cpu: 'cortex-a53',
    memoryMiB: 1024,
    smp: 4,
    firmware: { code: '/usr/lib/u-boot/rpi_3/u-boot.bin', debianPackage: 'u-boot-rpi', loadAs: 'kernel' },
    dtb: 'bcm2837-rpi-3-b.dtb',
    disk: { interface: 'sd' },
    net: { device: 'usb-net' },
    serialIndex: 1,
    tcgThread: 'single',
    extraArgs: ['-usb'],
  },
};

const jetsonJp5 = {
  name: 'jetson-agx-orin-devkit',
  deviceType: 'jetson-agx-orin-devkit',
  description: 'Jetson AGX Orin, JetPack 5: QEMU virt + UEFI in writable pflash + launcher',
  arch: 'arm64',
  bootloader: { kind: 'uefi-launcher', envFile: '/resinOS_uEnv.txt', countFile: '/bootcount.env', bootCountLimit: 3 },
  partitionTable: 'gpt',
  partitions: [
    { label: 'A_mb1', fs: 'raw', sizeMiB: 1 },
    { label: 'A_cpu-bootloader', fs: 'raw', sizeMiB: 2 },
    { label: 'secure-os', fs: 'raw', sizeMiB: 4 },
    { label: 'resin-boot', fs: 'vfat', sizeMiB: 64 },
    { label: 'resin-rootA', fs: 'ext4', sizeMiB: 384 },
    { label: 'resin-rootB', fs: 'ext4', sizeMiB: 384 },
    { label: 'resin-state', fs: 'ext4', sizeMiB: 20 },
    { label: 'resin-data', fs: 'ext4', sizeMiB: 256 },
  ],
  alignMiB: 4,
  kernel: { debianPackage: 'linux-image-arm64', cmdline: 'console=ttyAMA0,115200' },
  console: { device: 'ttyAMA0', baud: 115200 },
  qemu: {
    binary: 'qemu-system-aarch64',
    machine: 'virt',
    cpu: 'cortex-a53',
    memoryMiB: 1024,
    smp: 2,
    firmware: {
      code: '/usr/share/AAVMF/AAVMF_CODE.fd',
      vars: '/usr/share/AAVMF/AAVMF_VARS.fd',
      debianPackage: 'qemu-efi-aarch64',
      writableFlash: true,
    },
    disk: { interface: 'virtio' },
    net: { device: 'virtio-net-pci' },
  },
};

const jetsonJp4 = {
  ...jetsonJp5,
  name: 'jetson-xavier',
  deviceType: 'jetson-xavier',
  description: 'Jetson AGX Xavier, JetPack 4: QEMU virt + U-Boot in pflash',
  bootloader: { kind: 'u-boot', envFile: '/resinOS_uEnv.txt', countFile: '/bootcount.env', bootCountLimit: 3 },
  qemu: {
    ...jetsonJp5.qemu,
    firmware: { code: '/usr/lib/u-boot/qemu_arm64/u-boot.bin', debianPackage: 'u-boot-qemu', writableFlash: true },
  },
};

// A device type tested only on real boards: no QEMU section (its boards are in a lab inventory).
const boardOnly: Record<string, unknown> = { ...raspberrypi3, name: 'raspberrypi3-lab' };
delete boardOnly.qemu;

t.test('every shipped profile validates', async (t) => {
  const names = await listProfiles();
  t.ok(names.includes('generic-amd64'), `generic-amd64 is shipped (found: ${names.join(', ')})`);
  for (const name of names) {
    const p = await loadProfile(name);
    t.equal(p.name, name);
  }
});

t.test('generic-amd64 has the values the image builder relies on', async (t) => {
  const p = await loadProfile('generic-amd64');
  t.match(p, {
    deviceType: 'generic-amd64',
    arch: 'amd64',
    bootloader: { kind: 'grub-efi', envFile: '/EFI/BOOT/grubenv', bootCountLimit: 2 },
    partitionTable: 'gpt',
    alignMiB: 4,
    console: { device: 'ttyS0', baud: 115200 },
    qemu: {
      machine: 'q35',
      memoryMiB: 1024,
      serialIndex: 0,
      disk: { interface: 'virtio' },
      firmware: { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', loadAs: 'pflash', writableFlash: false },
    },
  });
  t.same(
    p.partitions.map((x) => [x.label, x.fs, x.sizeMiB]),
    [
      ['resin-boot', 'vfat', 64],
      ['resin-rootA', 'ext4', 384],
      ['resin-rootB', 'ext4', 384],
      ['resin-state', 'ext4', 20],
      ['resin-data', 'ext4', 256],
    ],
  );
});

t.test('the schema describes a Raspberry Pi 3, Jetsons and a type with real boards only', async (t) => {
  const rpi = validateProfile(raspberrypi3, 'devices/raspberrypi3.json');
  t.equal(rpi.qemu?.serialIndex, 1);
  t.equal(rpi.qemu?.firmware?.loadAs, 'kernel');
  const jp5 = validateProfile(jetsonJp5, 'devices/jetson-agx-orin-devkit.json');
  t.equal(jp5.qemu?.firmware?.writableFlash, true);
  t.equal(jp5.qemu?.serialIndex, 0, 'default filled in');
  t.same(jp5.qemu?.extraArgs, [], 'default filled in');
  t.same(jp5.kernel.modules, [], 'default filled in');
  validateProfile(jetsonJp4, 'devices/jetson-xavier.json');
  t.equal(
    validateProfile(boardOnly, 'devices/raspberrypi3-lab.json').qemu,
    undefined,
    'no QEMU section: real boards only',
  );
});

t.test("validation fills defaults into a copy, not into the caller's object", async (t) => {
  const input = structuredClone(jetsonJp5);
  validateProfile(input, 'jetson-agx-orin-devkit.json');
  t.same(input, jetsonJp5);
  t.notOk('serialIndex' in input.qemu);
});

interface BadCase {
  what: string;
  // biome-ignore lint/suspicious/noExplicitAny: see shippedJson
  mutate: (p: Record<string, any>) => void;
  field: string;
  says: RegExp;
}

const badCases: BadCase[] = [
  { what: 'missing field', mutate: (p) => delete p.kernel, field: '/kernel', says: /\/kernel is required/ },
  {
    what: 'missing nested field',
    mutate: (p) => delete p.qemu.memoryMiB,
    field: '/qemu/memoryMiB',
    says: /\/qemu\/memoryMiB is required/,
  },
  {
    what: 'wrong type',
    mutate: (p) => (p.qemu.memoryMiB = '1024'),
    field: '/qemu/memoryMiB',
    says: /\/qemu\/memoryMiB must be integer, not string "1024"/,
  },
  {
    what: 'unknown key (typo)',
    mutate: (p) => (p.qemu.memoryMB = 1024),
    field: '/qemu/memoryMB',
    says: /\/qemu\/memoryMB is not a known field \(known: binary, .*memoryMiB/,
  },
  {
    what: 'unknown top-level key',
    mutate: (p) => (p.bootLoader = {}),
    field: '/bootLoader',
    says: /\/bootLoader is not a known field/,
  },
  {
    what: 'unknown key in a partition',
    mutate: (p) => (p.partitions[2].size = 3),
    field: '/partitions/2/size',
    says: /is not a known field/,
  },
  {
    what: 'enum',
    mutate: (p) => (p.arch = 'x86_64'),
    field: '/arch',
    says: /\/arch must be one of "amd64", "arm64", "armhf", not "x86_64"/,
  },
  {
    what: 'too small a partition',
    mutate: (p) => (p.partitions[1].sizeMiB = 2),
    field: '/partitions/1/sizeMiB',
    says: /\/partitions\/1\/sizeMiB must be >= 8/,
  },
  {
    what: 'duplicate resin-rootA',
    mutate: (p) => (p.partitions[2].label = 'resin-rootA'),
    field: '/partitions/2/label',
    says: /\/partitions\/2\/label "resin-rootA" is already used by \/partitions\/1/,
  },
  {
    what: 'missing resin-state',
    mutate: (p) => p.partitions.splice(3, 1),
    field: '/partitions',
    says: /\/partitions must contain a partition labelled "resin-state"/,
  },
  {
    what: 'balenaOS partitions out of order',
    mutate: (p) => ([p.partitions[1].label, p.partitions[2].label] = [p.partitions[2].label, p.partitions[1].label]),
    field: '/partitions/1/label',
    says: /\/partitions\/1\/label must be "resin-rootA"/,
  },
  {
    what: 'wrong fs for resin-boot',
    mutate: (p) => (p.partitions[0].fs = 'ext4'),
    field: '/partitions/0/fs',
    says: /must be "vfat" for resin-boot/,
  },
  {
    what: 'vendor partition that is not raw',
    mutate: (p) => p.partitions.unshift({ label: 'vendor', fs: 'ext4', sizeMiB: 8 }),
    field: '/partitions/0/fs',
    says: /\/partitions\/0\/fs must be "raw"/,
  },
  {
    what: 'vendor partition after the balenaOS ones',
    mutate: (p) => p.partitions.push({ label: 'vendor', fs: 'raw', sizeMiB: 1 }),
    field: '/partitions/5/label',
    says: /\/partitions\/5\/label "vendor" must come before resin-boot/,
  },
  {
    what: 'countFile with GRUB',
    mutate: (p) => (p.bootloader.countFile = '/bootcount.env'),
    field: '/bootloader/countFile',
    says: /\/bootloader\/countFile is not allowed/,
  },
  {
    what: 'u-boot without countFile',
    mutate: (p) => (p.bootloader.kind = 'u-boot'),
    field: '/bootloader/countFile',
    says: /\/bootloader\/countFile is required/,
  },
  {
    what: 'QEMU binary for another arch',
    mutate: (p) => (p.arch = 'arm64'),
    field: '/qemu/binary',
    says: /\/qemu\/binary qemu-system-x86_64 does not run arch arm64 \(use qemu-system-aarch64\)/,
  },
  {
    what: 'a board section (boards live in the lab inventory)',
    mutate: (p) => (p.board = { ssh: { host: 'h' } }),
    field: '/board',
    says: /\/board is not a known field/,
  },
  {
    what: 'bad pattern',
    mutate: (p) => (p.bootloader.envFile = 'EFI/BOOT/grubenv'),
    field: '/bootloader/envFile',
    says: /\/bootloader\/envFile must match/,
  },
];

for (const c of badCases) {
  t.test(`rejected: ${c.what}`, async (t) => {
    const data = await shippedJson('generic-amd64');
    data.name = 'bad';
    c.mutate(data);
    const err = await loadError(t, { 'bad.json': JSON.stringify(data, null, 2) }, 'bad');
    t.equal(err.code, 'profile-invalid');
    const line = err.oneLine();
    t.match(line, /^(\S*\/)?bad\.json: /, 'names the file first');
    t.ok(line.includes(c.field), `names the field ${c.field}: ${line}`);
    t.match(line, c.says);
    t.match(line, /\(fix the profile; see lib\/profile\.schema\.json\)$/);
    t.notMatch(line, /\n/);
    t.ok(
      err instanceof ProfileError &&
        err.problems.some((p) => `${p.pointer} ${p.message}`.includes(c.field) || p.message.includes(c.field)),
    );
  });
}

t.test('several problems are all reported, in one line', async (t) => {
  const data = await shippedJson('generic-amd64');
  data.arch = 'sparc';
  data.qemu.smp = 0;
  const err = validationError(data, 'devices/generic-amd64.json');
  t.equal(err.problems.length, 2);
  t.match(err.oneLine(), /^devices\/generic-amd64\.json: .*\/arch must be one of.*; .*\/qemu\/smp must be >= 1/);
});

t.test('rejected: name different from the file name', async (t) => {
  const data = await shippedJson('generic-amd64');
  const err = await loadError(t, { 'other.json': JSON.stringify(data) }, 'other');
  t.equal(err.code, 'profile-invalid');
  t.match(err.oneLine(), /other\.json: \/name is "generic-amd64" but must equal the file name "other"/);
});

t.test('rejected: malformed JSON, with line and column', async (t) => {
  const text = '{\n  "name": "broken",\n  "arch" "amd64"\n}\n';
  const err = await loadError(t, { 'broken.json': text }, 'broken');
  t.equal(err.code, 'profile-invalid-json');
  t.match(err.oneLine(), /broken\.json:3:10: invalid JSON: /);
  const trailing = await loadError(t, { 'trail.json': '{\n  "name": "trail",\n}\n' }, 'trail');
  t.match(trailing.oneLine(), /trail\.json:3:1: invalid JSON: .*\(fix the JSON syntax/);
});

t.test('unknown device names the known ones', async (t) => {
  const good = JSON.stringify(await shippedJson('generic-amd64'));
  const files = { 'generic-amd64.json': good, 'zz-other.json': good, 'notes.txt': 'x' };
  const err = await loadError(t, files, 'raspberrypi9');
  t.equal(err.code, 'unknown-device');
  t.match(err.oneLine(), /unknown device "raspberrypi9"; known: generic-amd64, zz-other \(/);
  const sneaky = await loadError(t, files, '../generic-amd64');
  t.equal(sneaky.code, 'unknown-device', 'a path is not a device name');
  t.same(await listProfiles(t.testdir(files)), ['generic-amd64', 'zz-other']);
  // A missing folder is an error naming it, not an empty list that reads as "no devices".
  await t.rejects(listProfiles(path.join(t.testdir(), 'missing')), { code: 'folder-missing' });
  // The synchronous reader (the Playwright config's) says the same, naming the variable that points there.
  const missing = path.join(t.testdir(), 'gone');
  const before = process.env.HUPLAB_DEVICES;
  process.env.HUPLAB_DEVICES = missing;
  t.teardown(() => {
    if (before === undefined) delete process.env.HUPLAB_DEVICES;
    else process.env.HUPLAB_DEVICES = before;
  });
  t.throws(() => readConfiguredDirSync(missing, 'HUPLAB_DEVICES', 'device profiles'), {
    code: 'folder-missing',
    message: `HUPLAB_DEVICES=${missing}: no such folder of device profiles`,
  });
  t.same(
    readConfiguredDirSync(t.testdir(files), 'HUPLAB_DEVICES', 'device profiles').sort(),
    Object.keys(files).sort(),
  );
});

t.test('the Profile type matches what validation returns', async (t) => {
  const p: Profile = await loadProfile('generic-amd64');
  t.equal(p.bootloader.kind === 'grub-efi' && !('countFile' in p.bootloader), true);
});

t.test('a misplaced partition is reported once, not for every partition after it', async (t) => {
  const data = await shippedJson('generic-amd64');
  data.partitions.splice(3, 0, { label: 'vendor', fs: 'raw', sizeMiB: 1 });
  const err = validationError(data, 'devices/generic-amd64.json');
  t.same(
    err.problems.map((p) => p.pointer),
    ['/partitions/3/label'],
  );
  t.match(err.problems[0]?.message, /must be "resin-state"/);
});

t.test('a field that fails in two places of the schema is reported once', async (t) => {
  const data = await shippedJson('generic-amd64');
  data.partitions[0].sizeMiB = 'big';
  const err = validationError(data, 'devices/generic-amd64.json');
  t.same(err.problems, [{ pointer: '/partitions/0/sizeMiB', message: 'must be integer, not string "big"' }]);
});

t.test('a document that is not an object is rejected', async (t) => {
  const err = validationError([], 'devices/list.json');
  t.match(err.oneLine(), /^devices\/list\.json: must be object, not array/);
});
