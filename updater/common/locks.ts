import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './run.ts';

/** Application update locks as the supervisor lays them out on the host. */
export const LOCK_ROOTS = ['/tmp/balena-supervisor/services', '/tmp/resin-supervisor/services'];

export function findUpdateLocks(roots = LOCK_ROOTS): string[] {
  const locks: string[] = [];
  for (const root of roots) {
    if (!existsSync(root)) continue;
    for (const app of readdirSync(root)) {
      for (const svc of readdirSync(join(root, app))) {
        const f = join(root, app, svc, 'updates.lock');
        if (existsSync(f)) locks.push(f);
      }
    }
  }
  return locks;
}

/**
 * Locks currently held exclusively: a non-blocking exclusive flock that fails means someone holds
 * it. A shared lock also makes an exclusive attempt fail, so shared holders are told apart by
 * also trying a shared lock: HUP respects only exclusive locks, as the documents say.
 */
export function heldExclusiveLocks(locks = findUpdateLocks()): string[] {
  return locks.filter((f) => {
    const exclusive = run('flock', ['-n', '-x', f, '-c', 'true'], { allowFail: true }).code === 0;
    if (exclusive) return false;
    const shared = run('flock', ['-n', '-s', f, '-c', 'true'], { allowFail: true }).code === 0;
    return !shared;
  });
}

/** SUPERVISOR_OVERRIDE_LOCK (or the legacy RESIN_OVERRIDE_LOCK) in target-state-config. */
export function lockOverride(file = '/tmp/balena-supervisor/target-state-config'): boolean {
  if (!existsSync(file)) return false;
  const text = readFileSync(file, 'utf8');
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    const v = json.SUPERVISOR_OVERRIDE_LOCK ?? json.RESIN_OVERRIDE_LOCK;
    return v === true || v === 'true' || v === '1' || v === 1;
  } catch {
    return /^(SUPERVISOR|RESIN)_OVERRIDE_LOCK=(1|true)$/m.test(text);
  }
}
