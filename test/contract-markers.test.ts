import t from 'tap';
import {
  BOOT_STAGES,
  BOOTLOADER_BOOTING_LINE,
  BOOTLOADER_GAVE_UP,
  bootloaderBooting,
  bootloaderEnv,
  countBoots,
  initramfsGaveUp,
  MARKER_LINE,
  MARKERS,
  noInitOn,
  OS_READY_LINE,
  osReady,
  osReadyVersion,
  parseBootMarker,
  parseOsReady,
  REBOOT_SEEN,
} from '../lib/contract/markers.ts';

t.test('the patterns are the ones the harness matched by hand', async (t) => {
  t.equal(BOOTLOADER_BOOTING_LINE.source, String.raw`\[huplab\] bootloader: booting ([^\n]*)\n`);
  t.equal(OS_READY_LINE.source, String.raw`\[huplab\] os ready: version (\S+) root (\S+)`);
  t.same(
    Object.values(BOOT_STAGES).map((re) => re.source),
    [
      String.raw`\[huplab\] bootloader: booting`,
      String.raw`\[huplab\] initramfs: root`,
      String.raw`\[huplab\] os ready`,
    ],
  );
});

t.test('builders and parsers round-trip', async (t) => {
  const env = { resin_root_part: 'B', upgrade_available: '1', bootcount: '2' };
  t.same(parseBootMarker(bootloaderEnv(env)), { name: 'bootloaderEnv', fields: ['B', '1', '2'] });
  t.same(parseBootMarker(bootloaderBooting('resin-rootA')), { name: 'bootloaderBooting', fields: ['resin-rootA'] });
  t.same(parseBootMarker(BOOTLOADER_GAVE_UP), { name: 'bootloaderGaveUp', fields: [] });
  t.same(parseBootMarker(initramfsGaveUp(noInitOn('resin-rootB'))), {
    name: 'initramfsGaveUp',
    fields: ['no /sbin/init on resin-rootB'],
  });
  t.same(parseBootMarker(osReady('2.102.0', 'resin-rootB')), { name: 'osReady', fields: ['2.102.0', 'resin-rootB'] });
  t.same(parseOsReady(`login: ${osReady('2.102.0', 'resin-rootB')}\n`), { version: '2.102.0', root: 'resin-rootB' });
  t.same(parseBootMarker(MARKERS.shuttingDown), { name: 'shuttingDown', fields: [] });
  t.ok(osReady('2.102.0', 'resin-rootA').startsWith(osReadyVersion('2.102.0')));
  t.ok(osReady('2.102.0', 'resin-rootA').startsWith(MARKERS.osReady));
  t.equal(parseBootMarker('[huplab] attached to dev1 console; ctrl-] to detach'), undefined, 'the host says that');
});

t.test('real console text, as the harness tests and suites saw it', async (t) => {
  const grub =
    '[huplab] bootloader: env resin_root_part=B upgrade_available=1 bootcount=2\n[huplab] bootloader: booting resin-rootA\n';
  t.equal(BOOTLOADER_BOOTING_LINE.exec(grub)?.[1], 'resin-rootA');
  t.equal(countBoots(`${grub}[huplab] shutting down\n${grub}`), 2);
  t.match(grub, /bootcount=([2-9]|1\d)\n\[huplab\] bootloader: booting resin-rootA/);
  t.ok(grub.includes(bootloaderBooting('resin-root')), 'a prefix of the label matches either root');
  t.ok(REBOOT_SEEN.test('[huplab] shutting down\n'));
  t.ok(REBOOT_SEEN.test('first boot: [huplab] bootloader: booting resin-rootA\n'));
  t.notOk(REBOOT_SEEN.test('[huplab] os ready: version 2 root resin-rootA'));
  t.same(parseOsReady('[huplab] os ready: version 2.102.0 root resin-rootB'), {
    version: '2.102.0',
    root: 'resin-rootB',
  });
  t.ok(MARKER_LINE.test('[hup] step checks start') && MARKER_LINE.test('[huplab] os ready: version 2'));
  t.notOk(MARKER_LINE.test('[takeover] step flash start'), 'stage 2 keeps its own prefix');
});
