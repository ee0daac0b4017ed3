import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHuplabError } from '../lib/errors.ts';
import { BOOT_FILES_DIR, installBootFiles, planBootFiles } from '../updater/common/bootfiles.ts';
import { chooseRoots } from '../updater/common/partitions.ts';
import { compareVersions } from '../lib/versions.ts';
import { parseArgs } from '../updater/hup/args.ts';
import { analyseRecords } from '../harness/update/records.ts';

t.test('partition choice: the spare root is the other one, by position, on GPT and MBR names', async (t) => {
  t.same(chooseRoots('/dev/vda2', { A: '/dev/vda2', B: '/dev/vda3' }).inactive, { slot: 'B', device: '/dev/vda3' });
  t.same(chooseRoots('/dev/vda3', { A: '/dev/vda2', B: '/dev/vda3' }).inactive, { slot: 'A', device: '/dev/vda2' });
  t.same(
    chooseRoots('/dev/mmcblk0p2', { A: '/dev/mmcblk0p2' }).inactive,
    { slot: 'B', device: '/dev/mmcblk0p3' },
    'a never-written spare root has no label',
  );
  const neither = (() => {
    try {
      return chooseRoots('/dev/vda5', { A: '/dev/vda2', B: '/dev/vda3' });
    } catch (e) {
      return e;
    }
  })();
  t.ok(isHuplabError(neither, 'root-unknown'));
  const ambiguous = (() => {
    try {
      return chooseRoots('/dev/vda2', { A: '/dev/vda2', B: '/dev/vda5' });
    } catch (e) {
      return e;
    }
  })();
  t.ok(isHuplabError(ambiguous, 'root-unknown'), 'label and position disagree: refuse');
});

function fakeOs(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'huplab-os-'));
  for (const [p, c] of Object.entries(files)) {
    const f = join(root, BOOT_FILES_DIR, p);
    mkdirSync(join(f, '..'), { recursive: true });
    writeFileSync(f, c);
  }
  return root;
}

t.test('boot files: kept-back files are never replaced; the env files only when absent', async (t) => {
  const boot = mkdtempSync(join(tmpdir(), 'huplab-boot-'));
  mkdirSync(join(boot, 'EFI', 'BOOT'), { recursive: true });
  writeFileSync(join(boot, 'config.json'), '{"uuid":"device"}');
  writeFileSync(join(boot, 'EFI/BOOT/grubenv'), 'device env');
  writeFileSync(join(boot, 'EFI/BOOT/grub_extraenv'), 'device extra');
  writeFileSync(join(boot, 'EFI/BOOT/grub.cfg'), 'old cfg');
  const os = fakeOs({
    'config.json': '{}',
    'EFI/BOOT/grubenv': 'new env',
    'EFI/BOOT/grub_extraenv': 'new extra',
    'EFI/BOOT/grub.cfg': 'new cfg',
    'EFI/BOOT/BOOTX64.EFI': 'MZ new',
    'splash/balena-logo.png': 'logo',
  });
  const plan = planBootFiles(os, boot);
  t.same(plan.copy.sort(), ['/EFI/BOOT/BOOTX64.EFI', '/EFI/BOOT/grub.cfg']);
  t.same(plan.keptBack.sort(), [
    '/EFI/BOOT/grub_extraenv',
    '/EFI/BOOT/grubenv',
    '/config.json',
    '/splash/balena-logo.png',
  ]);
  await installBootFiles(os, boot);
  t.equal(readFileSync(join(boot, 'config.json'), 'utf8'), '{"uuid":"device"}');
  t.equal(readFileSync(join(boot, 'EFI/BOOT/grubenv'), 'utf8'), 'device env');
  t.equal(readFileSync(join(boot, 'EFI/BOOT/grub_extraenv'), 'utf8'), 'device extra');
  t.equal(readFileSync(join(boot, 'EFI/BOOT/grub.cfg'), 'utf8'), 'new cfg');
  t.equal(readFileSync(join(boot, 'EFI/BOOT/BOOTX64.EFI'), 'utf8'), 'MZ new');
});

t.test('updater flags: unknown ones are errors, as in the field', async (t) => {
  t.same(parseArgs(['--hostos-version', '2.102.0']), {
    hostosVersion: '2.102.0',
    noReboot: false,
    allowDowngrade: false,
  });
  t.ok(parseArgs(['--hostos-version=2.102.0', '--no-reboot']).noReboot);
  t.throws(() => parseArgs(['--hostos-version', '2.102.0', '--force']), /unknown option --force/);
  t.throws(() => parseArgs([]), /--hostos-version is missing/);
});

t.test('version order ignores pre-release and build suffixes', async (t) => {
  t.ok(compareVersions('2.102.0', '2.101.9') > 0);
  t.equal(compareVersions('2.102.0-beta1', '2.102.0'), 0);
  t.ok(compareVersions('2.9.0', '2.10.0') < 0);
});

t.test('application records: loss, holes and downtime are detected', async (t) => {
  const before = '1 1000 a 1\n2 2000 a 1\n';
  t.same(analyseRecords(before, `${before}3 3000 a 1\n4 9000 b 2\n`), {
    before: 2,
    after: 4,
    intact: true,
    continuous: true,
    maxGapSeconds: 6,
    versions: ['1', '2'],
  });
  t.notOk(analyseRecords(before, '2 2000 a 1\n3 3000 a 1\n').intact, 'a lost record');
  t.notOk(analyseRecords(before, `${before}4 4000 a 1\n`).continuous, 'a hole');
});
