/**
 * What the builder puts on a resinOS 1.x image besides the root: the fingerprints the 1.x update
 * checks, the boot scripts' root labels, and the data partition's containers and images.
 */
import t from 'tap';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fingerprintTree, formatFingerprint, isIgnored, modifiedFiles, parseFingerprint } from '../lib/fingerprint.ts';
import { bootloaderDescription } from '../lib/bootenv/index.ts';
import { loadProfile } from '../lib/profile.ts';
import { rootLabels } from '../lib/partition/resin-1x.ts';
import { bootTemplateVars, fillTemplate } from '../images/builder/boot-template.ts';
import { DATA_1X, populateData1x } from '../images/builder/data-1x.ts';

t.test('a fingerprint lists regular files by md5, skips the ignored ones, and round-trips', async (t) => {
  const dir = t.testdir({
    bin: { tool: 'binary\n' },
    etc: { hostname: 'device\n', passwd: 'root:x:0:0\n' },
    mnt: { data: { big: 'not of the root\n' } },
    'resin-root.fingerprint': 'itself\n',
    link: t.fixture('symlink', 'bin/tool'),
  });
  const sums = fingerprintTree(dir, 'root');
  t.same([...sums.keys()], ['/bin/tool', '/etc/passwd'], 'no hostname, no /mnt, no symlink, not itself');
  const text = formatFingerprint(sums);
  t.match(text, /^[0-9a-f]{32} {2}\/bin\/tool\n/);
  t.same(parseFingerprint(text), sums);
  t.throws(() => parseFingerprint('nonsense\n'), /not a fingerprint line/);
  t.ok(isIgnored('boot', '/EFI/BOOT/grub.cfg'));
  t.notOk(isIgnored('boot', '/EFI/BOOT/BOOTX64.EFI'));
  t.ok(isIgnored('root', '/var/lib/connman/settings'));
  t.notOk(isIgnored('root', '/var/lib/connmanx'));
});

t.test('a modified listed file is named; new and missing files pass', async (t) => {
  const dir = t.testdir({ etc: { passwd: 'root\n', group: 'root\n' } });
  const built = fingerprintTree(dir, 'root');
  t.same(modifiedFiles(built, fingerprintTree(dir, 'root')), []);
  await writeFile(path.join(dir, 'etc', 'passwd'), 'root\nintruder\n');
  await writeFile(path.join(dir, 'etc', 'new-file'), 'added\n');
  t.same(modifiedFiles(built, fingerprintTree(dir, 'root')), ['/etc/passwd']);
  const missing = new Map(built);
  missing.set('/etc/gone', '0'.repeat(32));
  t.same(modifiedFiles(missing, built), []);
});

t.test('the 1.x boot scripts switch between resin-root and resin-updt, partitions 2 and 3', async (t) => {
  const onex = await loadProfile('generic-amd64-1x');
  t.same(rootLabels(onex.layout), { A: 'resin-root', B: 'resin-updt' });
  t.same(bootloaderDescription(onex).rootPartitions, { A: 2, B: 3 });
  const pi = await loadProfile('raspberrypi3-1x');
  const vars = bootTemplateVars(pi);
  t.match(vars, { ROOT_A: '2', ROOT_B: '3', ROOT_A_LABEL: 'resin-root', ROOT_B_LABEL: 'resin-updt' });
  const cmd = await readFile('images/device-files/boot/u-boot/boot.cmd', 'utf8');
  const filled = fillTemplate(cmd, { ...vars, FDT_FILE: 'x.dtb' }, 'boot.cmd');
  t.match(filled, /setenv boot_label resin-root; setenv boot_part 2/);
  t.notMatch(filled, /resin-rootA/);
  const grub = await readFile('images/device-files/boot/grub-efi/grub.cfg', 'utf8');
  const two = fillTemplate(
    grub,
    { CMDLINE: 'quiet', ROOT_A_LABEL: 'resin-rootA', ROOT_B_LABEL: 'resin-rootB' },
    'grub.cfg',
  );
  t.match(two, /set root_label="resin-rootA"; else set root_label="resin-rootB"/);
  t.same(rootLabels('balena-ab-v1'), { A: 'resin-rootA', B: 'resin-rootB' });
});

t.test('the 1.x data partition: container record, image stand-in, app data, WiFi Connect', async (t) => {
  const dir = path.join(t.testdir(), 'data');
  await mkdir(dir);
  await populateData1x(dir, '1.26.1', {
    application: { appId: 7, name: 'demo', imageKiB: 4 },
    wifiConnect: { ssid: 'net', passphrase: 'secret' },
  });
  const layer = await readFile(path.join(dir, DATA_1X.images, 'demo.layer'));
  t.equal(layer.length, 4096);
  t.not(layer.toString('hex'), '00'.repeat(4096), 'seeded bytes, not zeros');
  t.same(await readdir(path.join(dir, DATA_1X.containers)), ['demo-7']);
  const wifi = await readFile(path.join(dir, 'resin-data', '7', 'network.config'), 'utf8');
  t.match(wifi, /\[service_home_wifi\][\s\S]*Name = net\nPassphrase = secret/);
  const again = path.join(t.testdir(), 'again');
  await mkdir(again);
  await populateData1x(again, '1.26.1', { application: { appId: 7, name: 'demo', imageKiB: 4 } });
  t.same(await readFile(path.join(again, DATA_1X.images, 'demo.layer')), layer, 'the same bytes every build');
  await t.rejects(readFile(path.join(again, 'resin-data', '7', 'network.config')), { code: 'ENOENT' });
});
