import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockDeviceName } from '../harness/device/name-lock.ts';
import { isHuplabError } from '../lib/errors.ts';

/** A pid that is certainly not running: a child that has exited and been reaped. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

t.test('a second starter of the same name is refused in one line while the first holds it', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'huplab-lock-')), 'a1');
  const first = lockDeviceName(dir, 'a1');
  // Another process holds it: simulate by writing a live pid (our parent's) into the lock.
  writeFileSync(join(dir, 'start.lock'), `${process.ppid}\n`);
  const err = (() => {
    try {
      lockDeviceName(dir, 'a1');
    } catch (e) {
      return e;
    }
  })();
  t.ok(isHuplabError(err, 'device-busy'), 'refused as busy');
  t.match(
    (err as Error).message,
    new RegExp(`device "a1" is being started by another huplab \\(pid ${process.ppid}\\)`),
  );
  t.same(readdirSync(dir), ['start.lock'], 'no temporary file left beside the lock');
  first.release();
  t.ok(existsSync(join(dir, 'start.lock')), "release leaves a lock that is not this process's");
});

t.test('a lock whose process is gone is taken over, and released again', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'huplab-lock-')), 'a2');
  const stale = lockDeviceName(dir, 'a2');
  writeFileSync(join(dir, 'start.lock'), `${deadPid()}\n`);
  void stale;
  const lock = lockDeviceName(dir, 'a2');
  lock.release();
  t.notOk(existsSync(join(dir, 'start.lock')), 'released');
  const again = lockDeviceName(dir, 'a2');
  again.release();
  t.same(readdirSync(dir), []);
});
