import t from 'tap';
import { buildQemuArgs, netdev, netDevice } from '../harness/qemu/args.ts';
import { devicePaths } from '../harness/qemu/paths.ts';
import type { QemuProfile } from '../harness/qemu/profile.ts';
import { q35Profile } from './helpers/qemu-profile.ts';

const amd64: QemuProfile = q35Profile(1024);

const joined = (a: string[]) => a.join(' ');

t.test('x86_64 q35 + OVMF command line', async (t) => {
  const paths = devicePaths('/lab/devices/dev1');
  const args = buildQemuArgs({
    name: 'dev1',
    profile: amd64,
    diskPath: '/lab/disk,1.img',
    sshPort: 40022,
    accel: 'tcg',
    paths,
  });
  const s = joined(args);
  t.match(
    s,
    /^-name dev1 -machine q35 -accel tcg -cpu qemu64 -m 1024 -smp 1 -nodefaults -no-user-config -display none -vga none /,
  );
  t.match(s, / -drive if=pflash,format=raw,unit=0,readonly=on,file=\/usr\/share\/OVMF\/OVMF_CODE_4M\.fd /);
  t.match(
    s,
    / -drive if=pflash,format=raw,unit=1,file=\/lab\/devices\/dev1\/firmware-vars\.fd /,
    'per-device vars copy',
  );
  t.match(
    s,
    / -drive file=\/lab\/disk,,1\.img,format=raw,cache=writeback,if=none,id=disk0 -device virtio-blk-pci,drive=disk0,bootindex=0 /,
    'commas escaped',
  );
  t.match(
    s,
    / -netdev user,id=n0,restrict=on,hostfwd=tcp:127\.0\.0\.1:40022-:22222 -device virtio-net-pci,netdev=n0,romfile= /,
    'restricted by default: no lab host port forwarded',
  );
  t.match(
    s,
    / -chardev socket,id=ser0,path=\/lab\/devices\/dev1\/serial\.sock,server=on,wait=off,logfile=\/lab\/devices\/dev1\/serial\.log,logappend=on -serial chardev:ser0 /,
  );
  t.match(
    s,
    / -qmp unix:\/lab\/devices\/dev1\/qmp\.sock,server=on,wait=off -daemonize -pidfile \/lab\/devices\/dev1\/qemu\.pid$/,
  );
  t.notMatch(s, /-no-reboot/, 'guest reboots must reboot');
});

t.test('raspi3b-like: console on the second serial, sd card, firmware as -kernel, own accel', async (t) => {
  const rpi: QemuProfile = {
    console: { device: 'ttyS1' },
    qemu: {
      ...amd64.qemu,
      binary: 'qemu-system-aarch64',
      machine: 'raspi3b',
      cpu: 'cortex-a53',
      memoryMiB: 1024,
      smp: 4,
      firmware: { code: '/fw/u-boot.bin', loadAs: 'kernel' },
      disk: { interface: 'sd' },
      net: { device: 'usb-net' },
      serialIndex: 1,
      tcgThread: 'single',
      dtb: 'bcm2837-rpi-3-b.dtb',
    },
  };
  const s = joined(
    buildQemuArgs({
      name: 'pi',
      profile: rpi,
      diskPath: '/d/sd.img',
      sshPort: 1,
      accel: 'tcg',
      paths: devicePaths('/d'),
    }),
  );
  t.match(s, / -accel tcg,thread=single /);
  t.match(s, / -kernel \/fw\/u-boot\.bin -dtb \/d\/board\.dtb /);
  t.match(s, / -drive file=\/d\/sd\.img,format=raw,cache=writeback,if=sd /);
  t.match(s, / -serial null -serial chardev:ser0 /);
  t.match(s, / -device usb-net,netdev=n0 /, 'no romfile on a USB NIC');
  const own = joined(
    buildQemuArgs({
      name: 'pi',
      profile: { ...rpi, qemu: { ...rpi.qemu, extraArgs: ['-accel', 'tcg,thread=multi'] } },
      diskPath: '/d/sd.img',
      sshPort: 1,
      accel: 'tcg',
      paths: devicePaths('/d'),
    }),
  );
  t.equal(own.match(/-accel/g)?.length, 1, "the profile's -accel wins");
});

t.test('writable flash and nvme', async (t) => {
  const p: QemuProfile = {
    ...amd64,
    qemu: {
      ...amd64.qemu,
      firmware: { code: '/fw/code.fd', vars: '/fw/vars.fd', writableFlash: true },
      disk: { interface: 'nvme' },
    },
  };
  const s = joined(
    buildQemuArgs({ name: 'j', profile: p, diskPath: '/d/x.img', sshPort: 2, accel: 'kvm', paths: devicePaths('/d') }),
  );
  t.match(s, / -drive if=pflash,format=raw,unit=0,file=\/d\/firmware-flash\.fd /, 'own writable copy of the flash');
  t.match(s, / -device nvme,drive=disk0,serial=huplab0,bootindex=0 /);
  t.match(s, / -accel kvm /);
  t.equal(
    netDevice('e1000,mac=52:54:00:00:00:01,romfile=/x.rom'),
    'e1000,mac=52:54:00:00:00:01,romfile=/x.rom,netdev=n0',
  );
  // U-Boot in a writable flash, no variable store: bank 1 is still there (the same board as under UEFI).
  const uboot: QemuProfile = {
    ...amd64,
    qemu: { ...amd64.qemu, firmware: { code: '/fw/u-boot.bin', writableFlash: true } },
  };
  const u = joined(
    buildQemuArgs({
      name: 'j4',
      profile: uboot,
      diskPath: '/d/x.img',
      sshPort: 2,
      accel: 'tcg',
      paths: devicePaths('/d'),
    }),
  );
  t.match(
    u,
    / -drive if=pflash,format=raw,unit=1,file=\/d\/firmware-vars\.fd /,
    "bank 1 is the device's own, even blank",
  );
  const ro: QemuProfile = {
    ...amd64,
    qemu: { ...amd64.qemu, firmware: { code: '/fw/code.fd', writableFlash: false } },
  };
  t.notMatch(
    joined(
      buildQemuArgs({
        name: 'r',
        profile: ro,
        diskPath: '/d/x.img',
        sshPort: 2,
        accel: 'tcg',
        paths: devicePaths('/d'),
      }),
    ),
    /unit=1/,
    'read-only firmware without vars: one bank',
  );
});

t.test('guest network: restricted to the listed lab host ports, or a board on the lab network', async (t) => {
  const restricted = netdev(40022, { kind: 'restricted', labHostPorts: [41000, 40999, 41000] });
  t.equal(
    restricted,
    'user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22222,' +
      'guestfwd=tcp:10.0.2.100:40999-cmd:socat STDIO TCP4:127.0.0.1:40999,' +
      'guestfwd=tcp:10.0.2.100:41000-cmd:socat STDIO TCP4:127.0.0.1:41000',
    'one forward per port, each to the same port on the host loopback',
  );
  t.equal(netdev(40022, { kind: 'lan' }), 'user,id=n0,host=10.0.2.100,hostfwd=tcp:127.0.0.1:40022-:22222');
});

t.test('a device restored from a saved state: the same machine, its own files and SSH port', async (t) => {
  const base = {
    profile: amd64,
    accel: 'tcg' as const,
    diskSocket: '/lab/devices/x/nbd.sock',
  };
  const saved = buildQemuArgs({
    ...base,
    name: 'saved',
    diskPath: '/lab/devices/saved/disk.img',
    sshPort: 40022,
    paths: devicePaths('/lab/devices/saved'),
  });
  const copy = buildQemuArgs({
    ...base,
    name: 'cut-a',
    diskPath: '/lab/devices/cut-a/disk.img',
    sshPort: 40023,
    paths: devicePaths('/lab/devices/cut-a'),
    incoming: "/r/it's saved/machine.state",
  });
  t.notOk(saved.includes('-incoming'), 'a cold boot loads nothing');
  const i = copy.indexOf('-incoming');
  t.equal(copy[i + 1], `exec:cat '/r/it'\\''s saved/machine.state'`, 'the state file is one word of /bin/sh');
  t.match(joined(copy), /hostfwd=tcp:127\.0\.0\.1:40023-:22222/, 'its own forwarded SSH port');
  // Migration needs the same machine: every option but names, files, sockets and ports alike.
  const shape = (a: string[]) =>
    a
      .filter((_, k) => a[k - 1] !== '-incoming' && a[k] !== '-incoming')
      .map((x) => x.replace(/\/lab\/devices\/[^/,]+/g, 'DIR').replace(/(name |^)(saved|cut-a)$/, '$1N'))
      .map((x) => x.replace(/:4002[23]-/, ':PORT-'));
  t.same(shape(copy).slice(2), shape(saved).slice(2), 'the same devices, in the same order');
});
