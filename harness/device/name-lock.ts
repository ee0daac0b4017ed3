/**
 * One starter per device name: flashing and booting a device rewrites its folder, so two
 * processes starting the same name at the same moment would delete each other's files. The
 * first takes `start.lock` in the device folder (a hard link, which is atomic and fails when the
 * lock exists); the second is refused in one line. A lock whose process is gone is taken over.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import { isPidAlive } from '../qemu/process.ts';

export interface NameLock {
  release(): void;
}

const LOCK = 'start.lock';

export function lockDeviceName(dir: string, name: string): NameLock {
  fs.mkdirSync(dir, { recursive: true });
  const lock = join(dir, LOCK);
  const mine = join(dir, `${LOCK}.${process.pid}`);
  fs.writeFileSync(mine, `${process.pid}\n`);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(mine, lock);
        return { release: () => releaseIfMine(lock) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = lockHolder(lock);
      if (holder !== undefined && holder !== process.pid && isPidAlive(holder)) {
        throw new HuplabError('device-busy', `device "${name}" is being started by another huplab (pid ${holder})`, {
          hint: `wait for it, or pick another --name`,
        });
      }
      // Stale (its process is gone) or unreadable: take it over, once.
      if (attempt > 0) {
        throw new HuplabError('device-busy', `cannot take the start lock of device "${name}" (${lock})`, {
          hint: 'another huplab keeps taking it: wait for it, or pick another --name',
        });
      }
      fs.rmSync(lock, { force: true });
    }
  } finally {
    fs.rmSync(mine, { force: true });
  }
}

function releaseIfMine(lock: string): void {
  if (lockHolder(lock) === process.pid) fs.rmSync(lock, { force: true });
}

/** The pid a lock file names, if it names one. */
export function lockHolder(lock: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(lock, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
