/**
 * One real VM: OVMF on q35 under the probed accelerator (TCG here) with an empty disk. No OS
 * image is needed: the firmware's own console output is enough to check the driver's plumbing.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { QemuDevice } from '../../harness/qemu/driver.ts';
import { isPidAlive } from '../../harness/qemu/process.ts';
import type { QemuProfile } from '../../harness/qemu/profile.ts';
import { q35Profile } from '../helpers/qemu-profile.ts';

const profile: QemuProfile = q35Profile(256);

const FIRMWARE = /BdsDxe|UEFI/;

// Short socket paths: unix sockets allow 107 bytes and tap's testdir names are long.
const root = fs.mkdtempSync('/tmp/huplab-qemu-test-');
const devices: QemuDevice[] = [];
t.teardown(() => {
  for (const d of devices) if (d.isRunning()) process.kill(d.pid!, 'SIGKILL');
  fs.rmSync(root, { recursive: true, force: true });
});

function makeDevice(name: string, extra: Partial<ConstructorParameters<typeof QemuDevice>[0]> = {}): QemuDevice {
  const diskPath = path.join(root, `${name}.img`);
  if (!fs.existsSync(diskPath)) {
    fs.writeFileSync(diskPath, '');
    fs.truncateSync(diskPath, 64 * 1024 * 1024); // sparse: no blocks written
  }
  const dev = new QemuDevice({ name, dir: path.join(root, name), profile, diskPath, labDir: root, ...extra });
  devices.push(dev);
  return dev;
}

t.test('power on, firmware console, QMP, reset, attach, port clash, power cut', { timeout: 60_000 }, async (t) => {
  const dev = makeDevice('d1');
  await dev.powerOn();
  t.equal(dev.state.current, 'firmware');
  t.match(dev.state.history(), [{ from: 'off', to: 'firmware', reason: /power on: pid \d+, (tcg|kvm)/ }]);
  t.ok(dev.isRunning());
  const rec = JSON.parse(fs.readFileSync(path.join(root, 'd1', 'device.json'), 'utf8'));
  t.match(rec, { pid: dev.pid, sshPort: Number, accel: 'tcg', startedAt: String });
  t.ok(fs.existsSync(path.join(root, 'd1', 'firmware-vars.fd')), 'vars copied into the device folder');

  const fw = await dev.console.expect(FIRMWARE, { since: 0, timeoutMs: 40_000, what: 'OVMF output' });
  t.ok(fw.offset > 0, `firmware spoke: ${fw.match}`);
  t.match(await dev.qmp((q) => q.queryStatus()), { status: 'running', running: true });

  const mark = dev.console.mark();
  await dev.reset();
  t.same(
    dev.state.history().map((x) => `${x.from}->${x.to}`),
    ['off->firmware', 'firmware->firmware'],
  );
  await dev.console.expect('BdsDxe', { since: mark, timeoutMs: 40_000, what: 'OVMF after reset' });
  t.match(await dev.qmp((q) => q.queryStatus()), { running: true });

  // Another process picks the device up from its folder.
  const other = QemuDevice.attach(path.join(root, 'd1'));
  t.ok(other.isRunning());
  t.equal(other.pid, dev.pid);
  t.equal(other.sshPort, dev.sshPort);
  t.equal(other.state.current, 'firmware', 'state read from the console');

  // A second VM cannot take the same forwarded port.
  const clash = makeDevice('d2', { sshPort: dev.sshPort! });
  await t.rejects(clash.powerOn(), {
    code: 'port-in-use',
    message: new RegExp(`port ${dev.sshPort} on 127\\.0\\.0\\.1 is in use`),
  });
  t.notOk(clash.isRunning());
  t.equal(clash.state.current, 'off');

  const pid = dev.pid!;
  await dev.powerCut();
  t.notOk(isPidAlive(pid), 'QEMU is gone');
  t.notOk(dev.isRunning());
  t.equal(dev.state.current, 'off');
  t.equal(QemuDevice.attach(path.join(root, 'd1')).state.current, 'off', 'attach sees a dead pid');
  t.match(fs.readFileSync(path.join(root, 'd1', 'state.log'), 'utf8'), /d1 firmware -> off \(power cut\)/);
});

t.test(
  'waitForOs on a disk that does not boot: failed, sticky, force(off) recovers',
  { timeout: 60_000 },
  async (t) => {
    const dev = makeDevice('d3');
    await dev.powerOn();
    const err = (await dev.waitForOs({ timeoutMs: 12_000 }).catch((e: unknown) => e)) as {
      code: string;
      message: string;
      oneLine(): string;
    };
    t.equal(err.code, 'console-timeout');
    t.match(err.message, /waiting for the bootloader of d3 to boot a kernel .* on d3\/ttyS0; last console lines:\n/);
    t.equal(dev.state.current, 'failed');
    t.match(dev.state.failedBy?.reason, /waitForOs: timed out/);
    await t.rejects(dev.reset(), { code: 'board-failed' });
    await t.rejects(dev.powerOn(), { code: 'board-failed' });
    const pid = dev.pid!;
    await dev.force('off');
    t.notOk(isPidAlive(pid));
    t.equal(dev.state.current, 'off');
  },
);

t.test(
  'console input reaches the guest; clean power off falls back when the guest ignores ACPI',
  { timeout: 60_000 },
  async (t) => {
    const dev = makeDevice('d4', { accel: 'tcg' });
    await dev.powerOn();
    // Typing reaches the guest: skip the shell's startup countdown, then run a command.
    const countdown = await dev.console.expect('Press', {
      since: 0,
      timeoutMs: 40_000,
      what: 'the UEFI shell countdown',
    });
    await dev.console.write('\x1b');
    const prompt = await dev.console.expect('Shell>', {
      since: countdown.offset,
      timeoutMs: 15_000,
      what: 'the UEFI shell prompt',
    });
    await dev.console.write('echo huplab-typed\r');
    await dev.console.expect(/\nhuplab-typed\n/, { since: prompt.offset, timeoutMs: 15_000, what: 'the echoed text' });
    dev.console.close();
    const pid = dev.pid!;
    await dev.powerOff({ timeoutMs: 2000 });
    t.notOk(isPidAlive(pid));
    t.equal(dev.state.current, 'off');
    t.match(
      dev.state.history().at(-1)?.reason,
      /did not power off within 2s: QEMU stopped/,
      'OVMF shell ignores the power button',
    );
  },
);
