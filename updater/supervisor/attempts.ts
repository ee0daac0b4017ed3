/**
 * The record of the agent's update attempts (AGENT_FILES.attempts on the data partition): the
 * last attempt of each kind, written atomically and synced, so that what the agent started
 * survives its own restart, a reboot into a new OS and a power cut. An attempt is tied to the
 * target's setAt: the same target is never attempted twice, a target set again is.
 */
import { readFileSync } from 'node:fs';
import { type DeviceTarget, kindSetAt, type UpdateAttempt, type UpdateKind } from '../../lib/contract/fleet.ts';
import { writeFileAtomic } from '../common/supervisor-install.ts';

export type Attempts = { os?: UpdateAttempt; supervisor?: UpdateAttempt };

export function readAttempts(path: string): Attempts {
  try {
    const doc = JSON.parse(readFileSync(path, 'utf8')) as Attempts;
    const out: Attempts = {};
    for (const kind of ['os', 'supervisor'] as const) {
      const a = doc?.[kind];
      if (a && typeof a.version === 'string' && typeof a.targetSetAt === 'string' && typeof a.outcome === 'string')
        out[kind] = a;
    }
    return out;
  } catch {
    return {};
  }
}

export function writeAttempts(path: string, attempts: Attempts): void {
  writeFileAtomic(path, `${JSON.stringify(attempts, null, 2)}\n`);
}

/** Records one attempt (replacing the last of its kind) and returns the new record. */
export function recordAttempt(
  path: string,
  attempt: Omit<UpdateAttempt, 'at'> & { at?: string },
  now: () => Date = () => new Date(),
): Attempts {
  const all = readAttempts(path);
  const a: UpdateAttempt = { ...attempt, at: attempt.at ?? now().toISOString() };
  if (a.reason === undefined) delete a.reason;
  all[a.kind] = a;
  writeAttempts(path, all);
  return all;
}

/** The version a target asks for, of one kind. */
export function targetVersion(target: DeviceTarget | undefined, kind: UpdateKind): string | undefined {
  return kind === 'os' ? target?.osVersion : target?.supervisorVersion;
}

/** The attempt already made for this target (same kind, version and that kind's set time), if any. */
export function attemptFor(attempts: Attempts, kind: UpdateKind, target: DeviceTarget): UpdateAttempt | undefined {
  const a = attempts[kind];
  const version = targetVersion(target, kind);
  return a && version !== undefined && a.version === version && a.targetSetAt === kindSetAt(target, kind)
    ? a
    : undefined;
}

/** True when the agent should start an attempt: a version is asked, it is not running, none was made. */
export function shouldAttempt(
  attempts: Attempts,
  kind: UpdateKind,
  target: DeviceTarget | undefined,
  running: string,
): boolean {
  const version = targetVersion(target, kind);
  if (!target || version === undefined || version === running) return false;
  return attemptFor(attempts, kind, target) === undefined;
}
