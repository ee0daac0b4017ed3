import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findUpdateLocks, heldExclusiveLocks, lockOverride } from '../updater/common/locks.ts';

// Real flock(1) holders on the host, as the demo application holds them on the device.
function hold(file: string, mode: '-x' | '-s'): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const c = spawn('flock', [mode, '-o', file, '-c', 'echo locked; exec sleep 60'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true,
    });
    c.stdout!.once('data', () => resolve(c));
    c.once('error', reject);
  });
}
const release = (c: ChildProcess) => {
  try {
    process.kill(-c.pid!, 'SIGKILL');
  } catch {
    /* gone */
  }
};

function lockTree(): { root: string; legacy: string; app: string; other: string } {
  const base = mkdtempSync(join(tmpdir(), 'huplab-locks-'));
  const root = join(base, 'balena-supervisor/services');
  const legacy = join(base, 'resin-supervisor/services');
  const app = join(root, '1', 'main');
  const other = join(legacy, '2', 'worker');
  for (const d of [app, other, join(root, '1', 'nolock')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(app, 'updates.lock'), '');
  writeFileSync(join(other, 'updates.lock'), '');
  return { root, legacy, app: join(app, 'updates.lock'), other: join(other, 'updates.lock') };
}

t.test('every service lock is found, in the current and the legacy place', async (t) => {
  const l = lockTree();
  t.same(findUpdateLocks([l.root, l.legacy]).sort(), [l.app, l.other].sort());
  t.same(findUpdateLocks([join(l.root, 'missing')]), []);
});

t.test('only exclusive holders hold the reboot back: a shared lock is not respected', async (t) => {
  const l = lockTree();
  const locks = findUpdateLocks([l.root, l.legacy]);
  t.same(heldExclusiveLocks(locks), [], 'nobody holds anything');
  const x = await hold(l.app, '-x');
  t.teardown(() => release(x));
  t.same(heldExclusiveLocks(locks), [l.app], 'exclusive: held');
  const s = await hold(l.other, '-s');
  t.teardown(() => release(s));
  t.same(heldExclusiveLocks(locks), [l.app], 'shared: not counted');
  release(x);
  await new Promise((r) => setTimeout(r, 200));
  t.same(heldExclusiveLocks(locks), [], 'released: nothing held');
});

t.test('the override, in either name and either format, and nothing else', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'huplab-tsc-'));
  const f = join(dir, 'target-state-config');
  t.equal(lockOverride(f), false, 'no file');
  for (const [text, want] of [
    ['{"SUPERVISOR_OVERRIDE_LOCK":"1"}', true],
    ['{"SUPERVISOR_OVERRIDE_LOCK":true}', true],
    ['{"RESIN_OVERRIDE_LOCK":"true"}', true],
    ['{"SUPERVISOR_OVERRIDE_LOCK":"0"}', false],
    ['{"SUPERVISOR_OVERRIDE_LOCK":false}', false],
    ['{}', false],
    ['SUPERVISOR_OVERRIDE_LOCK=1\n', true],
    ['RESIN_OVERRIDE_LOCK=true\n', true],
    ['SUPERVISOR_OVERRIDE_LOCK=0\n', false],
    ['garbage', false],
  ] as const) {
    writeFileSync(f, text);
    t.equal(lockOverride(f), want, text.trim());
  }
});
