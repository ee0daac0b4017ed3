import { spawnSync } from 'node:child_process';

/** The field's lock: one OS update at a time, standard or advanced. */
export const UPDATE_LOCK_FILE = '/var/lock/resinhup.lock';

/**
 * Runs the rest of this program under an exclusive, non-blocking flock of the update lock: the
 * first call re-executes the program under `flock` and returns its exit status; inside, it
 * returns undefined and the program goes on. `name` prefixes the message when the lock is taken.
 */
export function reexecUnderUpdateLock(name: string, lockedStatus: number, failedStatus: number): number | undefined {
  if (process.env.HUP_LOCKED) return undefined;
  const r = spawnSync(
    'flock',
    ['-n', '-E', String(lockedStatus), UPDATE_LOCK_FILE, process.execPath, ...process.argv.slice(1)],
    {
      stdio: 'inherit',
      env: { ...process.env, HUP_LOCKED: '1' },
    },
  );
  if (r.status === lockedStatus)
    process.stderr.write(`${name}: another OS update is running (${UPDATE_LOCK_FILE} is locked)\n`);
  return r.status ?? failedStatus;
}
