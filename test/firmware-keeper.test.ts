import t, { type Test } from 'tap';
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stepLine } from '../lib/contract/steps.ts';
import { TAKEOVER_REBOOTING } from '../lib/contract/takeover.ts';
import { silentNarrator } from '../lib/narrator.ts';
import { FirmwareKeeper } from '../harness/server/firmware-keeper.ts';

// The lab server's part in a fleet update that rewrites a board's boot flash: it must start the
// board again exactly when takeover reboots after a flash rewrite, once, for its own devices only.

interface Board {
  dir: string;
  log: string;
  print(text: string): void;
}

const running: ChildProcess[] = [];
t.teardown(() => {
  for (const p of running) p.kill();
});

/** A device folder as `huplab device start` leaves it, with a live process standing for QEMU. */
function board(t: Test, lab: string, name: string, uuid: string, writableFlash = true): Board {
  const dir = join(lab, 'devices', name);
  mkdirSync(dir, { recursive: true });
  // isOurProcess knows a device's QEMU by the folder in its argv.
  const qemu = spawn('sh', ['-c', 'sleep 120', dir], { stdio: 'ignore' });
  running.push(qemu);
  t.teardown(() => qemu.kill());
  const firmware = { code: 'u-boot.bin', ...(writableFlash ? { writableFlash: true } : {}) };
  writeFileSync(
    join(dir, 'device.json'),
    JSON.stringify({ name, pid: qemu.pid, bootOffset: 0, profile: { qemu: { firmware }, console: {} } }),
  );
  writeFileSync(join(dir, 'provision.json'), JSON.stringify({ name, uuid }));
  const log = join(dir, 'serial.log');
  writeFileSync(log, 'U-Boot 2023.01\nlogin:\n');
  return { dir, log, print: (text) => appendFileSync(log, text) };
}

function keeper(lab: string, registered: string[]) {
  const reloads: Array<{ dir: string; since: number }> = [];
  const k = new FirmwareKeeper({
    labDir: lab,
    isLabDevice: (uuid) => registered.includes(uuid),
    narrator: silentNarrator,
    reload: async (dir, since) => {
      reloads.push({ dir, since });
    },
  });
  return { k, reloads };
}

const takeover = (flash: boolean) =>
  [
    '[takeover] step flash start',
    '[takeover] step flash done (38s)',
    ...(flash
      ? [stepLine('boot-flash', 'start', '', 'takeover'), stepLine('boot-flash', 'done', '(7s)', 'takeover')]
      : []),
    TAKEOVER_REBOOTING,
    'reboot: Restarting system',
    '',
  ].join('\n');

t.test(
  'a takeover that rewrote the boot flash: the board is started again once, from where takeover began',
  async (t) => {
    const lab = t.testdir({});
    const b = board(t, lab, 'jx', 'u1');
    const { k, reloads } = keeper(lab, ['u1']);
    await k.scanAll(); // first sight: what is on the console already is not acted on
    b.print('[hup] step handover done (2.0s)\n');
    const before = statSync(b.log).size;
    await k.scanAll();
    t.same(reloads, [], 'nothing while the update runs');
    // The lines come in pieces, as on a serial console.
    const text = takeover(true);
    b.print(text.slice(0, 30));
    await k.scanAll();
    b.print(text.slice(30, text.length - 40));
    await k.scanAll();
    t.same(reloads, [], 'not before the reboot line');
    b.print(text.slice(text.length - 40));
    await k.scanAll();
    t.same(reloads, [{ dir: b.dir, since: before }], 'once, from the first takeover line');
    b.print('U-Boot 2024.01\n[hup] boot ok\n');
    await k.scanAll();
    await k.scanAll();
    t.equal(reloads.length, 1, 'the next boot is not taken for another takeover');
  },
);

t.test('a takeover that left the flash alone reboots by itself', async (t) => {
  const lab = t.testdir({});
  const b = board(t, lab, 'jx', 'u1');
  const { k, reloads } = keeper(lab, ['u1']);
  await k.scanAll();
  b.print(takeover(false));
  await k.scanAll();
  b.print(takeover(true)); // a later takeover that does rewrite it is still seen
  await k.scanAll();
  t.equal(reloads.length, 1);
});

t.test('devices of other runs, boards without a writable flash and history are left alone', async (t) => {
  const lab = t.testdir({});
  const history = board(t, lab, 'old', 'u1');
  history.print(takeover(true)); // printed before the server looked
  const other = board(t, lab, 'other-run', 'u2');
  const pc = board(t, lab, 'pc', 'u3', false);
  const { k, reloads } = keeper(lab, ['u1', 'u3']);
  await k.scanAll();
  other.print(takeover(true));
  pc.print(takeover(true));
  await k.scanAll();
  t.same(reloads, []);
});

t.test('a board whose QEMU is gone is not restarted', async (t) => {
  const lab = t.testdir({});
  const b = board(t, lab, 'jx', 'u1');
  const { k, reloads } = keeper(lab, ['u1']);
  await k.scanAll();
  running.at(-1)!.kill();
  await new Promise((res) => running.at(-1)!.once('exit', res));
  b.print(takeover(true));
  await k.scanAll();
  t.same(reloads, []);
});

t.test('start and stop: a running keeper acts by itself, and stop waits for it', async (t) => {
  const lab = t.testdir({});
  const b = board(t, lab, 'jx', 'u1');
  const reloads: string[] = [];
  const k = new FirmwareKeeper({
    labDir: lab,
    isLabDevice: () => true,
    narrator: silentNarrator,
    intervalMs: 20,
    reload: async (dir) => {
      await new Promise((res) => setTimeout(res, 100));
      reloads.push(dir);
    },
  });
  k.start();
  await new Promise((res) => setTimeout(res, 100));
  b.print(takeover(true));
  for (let i = 0; i < 100 && reloads.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
  await k.stop();
  t.same(reloads, [b.dir]);
});
