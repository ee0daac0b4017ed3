import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { BoardStateMachine } from '../harness/driver/state.ts';

t.test('legal boot path, logged with timestamps', async (t) => {
  const dir = t.testdir();
  const logFile = path.join(dir, 'state.log');
  let clock = Date.parse('2026-11-01T10:00:00.000Z');
  const seen: string[] = [];
  const sm = new BoardStateMachine('dev1', { logFile, now: () => clock, listener: (_t, line) => seen.push(line) });
  t.equal(sm.current, 'off');
  sm.transition('firmware', 'power on');
  clock += 8000;
  sm.transition('kernel', 'bootloader: booting resin-rootA');
  clock += 6500;
  sm.transition('os-ready', 'console: os ready');
  t.equal(sm.current, 'os-ready');
  sm.transition('firmware', 'reboot');
  sm.transition('off', 'power cut');

  const log = fs.readFileSync(logFile, 'utf8').trim().split('\n');
  t.equal(log.length, 5);
  t.equal(log[0], '2026-11-01T10:00:00.000Z dev1 off -> firmware (power on)');
  t.equal(log[1], '2026-11-01T10:00:08.000Z dev1 firmware -> kernel (bootloader: booting resin-rootA)');
  t.same(seen, log, 'listener gets the same lines');
  const h = sm.history();
  t.same(
    h.map((x) => x.to),
    ['firmware', 'kernel', 'os-ready', 'firmware', 'off'],
  );
  t.equal(h[2]!.atMs - h[0]!.atMs, 14500, 'history gives boot time');
  t.equal(sm.lastDuration('firmware', 'os-ready'), 14500);
  h[0]!.reason = 'mutated';
  t.equal(sm.history()[0]!.reason, 'power on', 'history is a copy');
});

t.test('illegal transitions throw and change nothing', async (t) => {
  const sm = new BoardStateMachine('dev2');
  t.throws(() => sm.transition('os-ready', 'skip'), { code: 'board-illegal-transition', message: /off -> os-ready/ });
  t.throws(() => sm.transition('off', 'again'), { code: 'board-illegal-transition' });
  t.equal(sm.current, 'off');
  sm.transition('firmware', 'power on');
  t.throws(() => sm.transition('os-ready', 'no kernel'), { code: 'board-illegal-transition' });
  t.equal(sm.history().length, 1);
});

t.test('failure is sticky until force', async (t) => {
  const sm = new BoardStateMachine('dev3');
  sm.transition('firmware', 'power on');
  sm.fail('timed out waiting for the bootloader');
  t.equal(sm.current, 'failed');
  for (const to of ['off', 'firmware', 'kernel', 'os-ready', 'failed'] as const) {
    t.throws(
      () => sm.transition(to, 'try'),
      { code: 'board-failed', message: /timed out waiting for the bootloader/ },
      `-> ${to} refused`,
    );
  }
  t.throws(() => sm.assertUsable('reset'), {
    code: 'board-failed',
    message: /dev3 is failed since .*refusing to reset/,
  });
  t.equal(sm.failedBy?.reason, 'timed out waiting for the bootloader');
  sm.force('off', 'operator');
  t.equal(sm.current, 'off');
  t.equal(sm.failedBy, undefined);
  t.doesNotThrow(() => sm.transition('firmware', 'power on'));
  const last = sm.history().at(-2)!;
  t.match(last, { from: 'failed', to: 'off', forced: true });
});

t.test('force works from any state and is recorded', async (t) => {
  const dir = t.testdir();
  const logFile = path.join(dir, 's.log');
  const sm = new BoardStateMachine('dev4', { logFile });
  sm.force('os-ready', 'attached');
  t.equal(sm.current, 'os-ready');
  t.match(fs.readFileSync(logFile, 'utf8'), /dev4 off -> os-ready \(forced: attached\)/);
});
